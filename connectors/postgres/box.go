package postgres

import (
	"math/big"
	"unsafe"

	"github.com/sluicehq/sluice/runtime/connect"
)

// boxer boxes the values of streamed events into interfaces without one
// allocation per value: each value is stored in a shared, typed slab and
// the interface points at its slab element, the way the compiler's own
// boxing points at a fresh heap copy. A slab element is written exactly
// once, before its interface is made, and never again, so every interface
// holds an immutable value as Go requires; a slab stays in memory while
// any interface pointing into it is reachable. Strings built by the
// streamer are written into an append-only byte slab (also never
// rewritten once taken).
//
// The zero boxer is ready to use. It is not safe for concurrent use.
type boxer struct {
	typ   boxTypes
	strs  []string
	i64s  []int64
	i32s  []int32
	i16s  []int16
	decs  []connect.Decimal
	ints  []big.Int
	words []big.Word
	text  []byte
}

// boxTypes are the type words of the interfaces a boxer makes.
type boxTypes struct {
	ok                    bool
	str, i64, i32, i16, d unsafe.Pointer
}

// eface is the layout of an empty interface value: its type word and a
// pointer to the value (for the non-pointer-shaped types boxed here).
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

// Slab sizes of a boxer, in elements (bytes for the text slab).
const (
	boxSlab  = 256
	textSlab = 16 << 10
)

func typeWord(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

func (b *boxer) types() *boxTypes {
	if !b.typ.ok {
		b.typ = boxTypes{ok: true, str: typeWord(""), i64: typeWord(int64(0)), i32: typeWord(int32(0)),
			i16: typeWord(int16(0)), d: typeWord(connect.Decimal{})}
	}
	return &b.typ
}

func makeAny(typ, data unsafe.Pointer) any {
	e := eface{typ: typ, data: data}
	return *(*any)(unsafe.Pointer(&e))
}

// str returns s boxed.
func (b *boxer) str(s string) any {
	if len(s) == 0 {
		return "" // boxing the empty string does not allocate
	}
	if len(b.strs) == 0 {
		b.strs = make([]string, boxSlab)
	}
	p := &b.strs[0]
	b.strs = b.strs[1:]
	*p = s
	return makeAny(b.types().str, unsafe.Pointer(p))
}

// int64 returns v boxed.
func (b *boxer) int64(v int64) any {
	if uint64(v) < 256 {
		return v // small values are boxed without allocating
	}
	if len(b.i64s) == 0 {
		b.i64s = make([]int64, boxSlab)
	}
	p := &b.i64s[0]
	b.i64s = b.i64s[1:]
	*p = v
	return makeAny(b.types().i64, unsafe.Pointer(p))
}

// int32 returns v boxed.
func (b *boxer) int32(v int32) any {
	if uint32(v) < 256 {
		return v
	}
	if len(b.i32s) == 0 {
		b.i32s = make([]int32, boxSlab)
	}
	p := &b.i32s[0]
	b.i32s = b.i32s[1:]
	*p = v
	return makeAny(b.types().i32, unsafe.Pointer(p))
}

// int16 returns v boxed.
func (b *boxer) int16(v int16) any {
	if uint16(v) < 256 {
		return v
	}
	if len(b.i16s) == 0 {
		b.i16s = make([]int16, boxSlab)
	}
	p := &b.i16s[0]
	b.i16s = b.i16s[1:]
	*p = v
	return makeAny(b.types().i16, unsafe.Pointer(p))
}

// decimal returns the Decimal unscaled/10^scale boxed, its big.Int (and
// the big.Int's word) carved from slabs too.
func (b *boxer) decimal(unscaled int64, scale int32) any {
	if len(b.ints) == 0 {
		b.ints = make([]big.Int, boxSlab)
	}
	z := &b.ints[0]
	b.ints = b.ints[1:]
	if unscaled != 0 {
		if len(b.words) == 0 {
			b.words = make([]big.Word, boxSlab)
		}
		w := b.words[:1:1]
		b.words = b.words[1:]
		abs := uint64(unscaled)
		if unscaled < 0 {
			abs = -abs
		}
		w[0] = big.Word(abs)
		z.SetBits(w)
		if unscaled < 0 {
			z.Neg(z)
		}
	}
	return b.dec(connect.Decimal{Unscaled: z, Scale: scale})
}

// dec returns d boxed.
func (b *boxer) dec(d connect.Decimal) any {
	if len(b.decs) == 0 {
		b.decs = make([]connect.Decimal, boxSlab)
	}
	p := &b.decs[0]
	b.decs = b.decs[1:]
	*p = d
	return makeAny(b.types().d, unsafe.Pointer(p))
}

// textSpace returns the text slab's free space (at least n bytes) for a
// string of at most n bytes to be appended, then taken with textTake.
func (b *boxer) textSpace(n int) []byte {
	if cap(b.text)-len(b.text) < n {
		b.text = make([]byte, 0, max(textSlab, n))
	}
	return b.text[len(b.text):len(b.text)]
}

// textTake returns the string appended to the slice textSpace returned
// (which must not have grown past the space asked for) and seals it.
func (b *boxer) textTake(s []byte) string {
	if len(s) == 0 {
		return ""
	}
	start := len(b.text)
	b.text = b.text[:start+len(s)]
	return unsafe.String(&b.text[start], len(s))
}

// aliasString returns a string sharing p's bytes, which must never be
// written again (stream messages: msgCopier's copies are never written).
func aliasString(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	return unsafe.String(&p[0], len(p))
}
