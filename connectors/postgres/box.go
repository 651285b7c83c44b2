package postgres

import (
	"math"
	"math/big"
	"math/bits"
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

// boxIn stores v in the next element of slab, starting a new slab of
// boxSlab elements when it is used up, and returns an interface of type
// word typ (which must be T's) pointing at that element.
func boxIn[T any](slab *[]T, v T, typ unsafe.Pointer) any {
	if len(*slab) == 0 {
		*slab = make([]T, boxSlab)
	}
	p := &(*slab)[0]
	*slab = (*slab)[1:]
	*p = v
	return makeAny(typ, unsafe.Pointer(p))
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
	return boxIn(&b.strs, s, b.types().str)
}

// int64 returns v boxed.
func (b *boxer) int64(v int64) any {
	if uint64(v) < 256 {
		return v // small values are boxed without allocating
	}
	return boxIn(&b.i64s, v, b.types().i64)
}

// int32 returns v boxed.
func (b *boxer) int32(v int32) any {
	if uint32(v) < 256 {
		return v
	}
	return boxIn(&b.i32s, v, b.types().i32)
}

// int16 returns v boxed.
func (b *boxer) int16(v int16) any {
	if uint16(v) < 256 {
		return v
	}
	return boxIn(&b.i16s, v, b.types().i16)
}

// decimal returns the Decimal unscaled/10^scale boxed, its big.Int (and
// the big.Int's word) carved from slabs too.
func (b *boxer) decimal(unscaled int64, scale int32) any {
	abs := uint64(unscaled)
	if unscaled < 0 {
		abs = -abs
	}
	return b.dec(connect.Decimal{Unscaled: b.bigInt(abs, unscaled < 0), Scale: scale})
}

// bigInt returns a big.Int holding u, negated when neg, carved with its
// one word from the slabs.
func (b *boxer) bigInt(u uint64, neg bool) *big.Int {
	if bits.UintSize < 64 && u > math.MaxUint32 {
		z := new(big.Int).SetUint64(u)
		if neg {
			z.Neg(z)
		}
		return z
	}
	if len(b.ints) == 0 {
		b.ints = make([]big.Int, boxSlab)
	}
	z := &b.ints[0]
	b.ints = b.ints[1:]
	if u != 0 {
		if len(b.words) == 0 {
			b.words = make([]big.Word, boxSlab)
		}
		w := b.words[:1:1] // capacity 1: growing the value reallocates
		b.words = b.words[1:]
		w[0] = big.Word(u)
		z.SetBits(w)
		if neg {
			z.Neg(z)
		}
	}
	return z
}

// dec returns d boxed.
func (b *boxer) dec(d connect.Decimal) any {
	return boxIn(&b.decs, d, b.types().d)
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
