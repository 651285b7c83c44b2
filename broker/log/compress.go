package log

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// maxDecompressed bounds the size of decompressed batch data.
const maxDecompressed = 256 << 20

// snappyMaxRatio bounds how much snappy data can expand (a 3-byte copy
// element yields at most 64 bytes), so a corrupt length header cannot make
// us allocate a huge buffer.
const snappyMaxRatio = 22

// xerialMagic starts snappy data framed the way the Java client writes it.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

func readAllLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxDecompressed+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxDecompressed {
		return nil, fmt.Errorf("decompressed data exceeds %d bytes", maxDecompressed)
	}
	return b, nil
}

// codecs caches zstd state across many batches of one goroutine (building
// a zstd encoder or decoder is costly); the zero value is ready to use.
type codecs struct {
	zdec *zstd.Decoder
	zenc *zstd.Encoder
}

func (c *codecs) close() {
	if c.zdec != nil {
		c.zdec.Close()
	}
	if c.zenc != nil {
		c.zenc.Close()
	}
}

// Decompress decodes data compressed with a Kafka codec (CodecGzip,
// CodecSnappy raw or xerial-framed, CodecLZ4 frames, CodecZstd; CodecNone
// returns data), capped at 256 MiB. It is the one decompressor of the
// broker: v2 batches and legacy magic 0/1 wrapper messages use it.
func Decompress(codec int, data []byte) ([]byte, error) { return decompress(codec, data) }

// decompress decodes the records section of a compressed batch.
func decompress(codec int, data []byte) ([]byte, error) {
	var c codecs
	defer c.close()
	return c.decompress(codec, data)
}

func (c *codecs) decompress(codec int, data []byte) ([]byte, error) {
	switch codec {
	case CodecNone:
		return data, nil
	case CodecGzip:
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		b, err := readAllLimited(zr)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return b, nil
	case CodecSnappy:
		return snappyDecode(data)
	case CodecLZ4:
		return lz4Decode(data)
	case CodecZstd:
		if c.zdec == nil {
			zr, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxDecompressed))
			if err != nil {
				return nil, fmt.Errorf("zstd: %w", err)
			}
			c.zdec = zr
		}
		b, err := c.zdec.DecodeAll(data, nil)
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("unknown compression codec %d (attributes bits 0-2)", codec)
	}
}

func snappyDecode(data []byte) ([]byte, error) {
	if !bytes.HasPrefix(data, xerialMagic) {
		n, err := snappy.DecodedLen(data)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		if n > maxDecompressed || n > snappyMaxRatio*len(data)+64 {
			return nil, fmt.Errorf("snappy: implausible decoded length %d for %d bytes", n, len(data))
		}
		b, err := snappy.Decode(nil, data)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		return b, nil
	}
	// xerial framing: magic(8) version(4) compat(4) then [len(4) block]...
	p := data[len(xerialMagic):]
	if len(p) < 8 {
		return nil, fmt.Errorf("snappy: xerial header truncated")
	}
	p = p[8:]
	var out []byte
	for len(p) > 0 {
		if len(p) < 4 {
			return nil, fmt.Errorf("snappy: xerial chunk length truncated")
		}
		n := binary.BigEndian.Uint32(p)
		p = p[4:]
		if uint64(n) > uint64(len(p)) {
			return nil, fmt.Errorf("snappy: xerial chunk of %d bytes exceeds the %d remaining", n, len(p))
		}
		dl, err := snappy.DecodedLen(p[:n])
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		if len(out)+dl > maxDecompressed || dl > snappyMaxRatio*int(n)+64 {
			return nil, fmt.Errorf("snappy: implausible decoded length %d for a %d-byte chunk", dl, n)
		}
		blk, err := snappy.Decode(nil, p[:n])
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		out = append(out, blk...)
		p = p[n:]
	}
	return out, nil
}

// compress encodes records data with codec (snappy uses xerial framing
// like the Java client; every Kafka client reads it).
func (c *codecs) compress(codec int, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	switch codec {
	case CodecNone:
		return data, nil
	case CodecGzip:
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(data); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
	case CodecSnappy:
		buf.Write(xerialMagic)
		var hdr [8]byte
		binary.BigEndian.PutUint32(hdr[0:], 1)
		binary.BigEndian.PutUint32(hdr[4:], 1)
		buf.Write(hdr[:])
		const chunk = 32 << 10
		for len(data) > 0 {
			n := min(chunk, len(data))
			blk := snappy.Encode(nil, data[:n])
			var l [4]byte
			binary.BigEndian.PutUint32(l[:], uint32(len(blk)))
			buf.Write(l[:])
			buf.Write(blk)
			data = data[n:]
		}
	case CodecLZ4:
		zw := lz4.NewWriter(&buf)
		// 64 KiB blocks like the Java client (the default 4 MiB costs a large
		// buffer per batch, here and in every reader).
		if err := zw.Apply(lz4.BlockSizeOption(lz4.Block64Kb)); err != nil {
			return nil, err
		}
		if _, err := zw.Write(data); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
	case CodecZstd:
		if c.zenc == nil {
			zw, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
			if err != nil {
				return nil, err
			}
			c.zenc = zw
		}
		return c.zenc.EncodeAll(data, nil), nil
	default:
		return nil, fmt.Errorf("log: unknown compression codec %d", codec)
	}
	return buf.Bytes(), nil
}

// lz4Decode decodes an LZ4 frame block by block. It ignores the frame
// header checksum, which Kafka's magic 0 messages carry miscomputed.
func lz4Decode(data []byte) ([]byte, error) {
	if len(data) < 7 || binary.LittleEndian.Uint32(data) != 0x184D2204 {
		return nil, fmt.Errorf("lz4: not an LZ4 frame")
	}
	flg, bd := data[4], data[5]
	hdr := 7 // magic, FLG, BD, HC
	if flg&0x08 != 0 {
		hdr += 8 // content size
	}
	if flg&0x01 != 0 {
		hdr += 4 // dictionary id
	}
	blockChecksum := flg&0x10 != 0
	maxBlock := 4 << 20
	switch (bd >> 4) & 0x07 {
	case 4:
		maxBlock = 64 << 10
	case 5:
		maxBlock = 256 << 10
	case 6:
		maxBlock = 1 << 20
	}
	if len(data) < hdr {
		return nil, fmt.Errorf("lz4: truncated frame header")
	}
	data = data[hdr:]
	var out []byte
	var buf []byte
	for {
		if len(data) < 4 {
			return nil, fmt.Errorf("lz4: truncated block size")
		}
		sz := binary.LittleEndian.Uint32(data)
		data = data[4:]
		if sz == 0 {
			return out, nil // end mark (a content checksum may follow)
		}
		raw := sz&0x80000000 != 0
		sz &= 0x7fffffff
		if uint64(sz) > uint64(len(data)) {
			return nil, fmt.Errorf("lz4: block of %d bytes, %d left", sz, len(data))
		}
		if raw {
			out = append(out, data[:sz]...)
		} else {
			if buf == nil {
				buf = make([]byte, maxBlock)
			}
			n, err := lz4.UncompressBlock(data[:sz], buf)
			if err != nil {
				return nil, fmt.Errorf("lz4: %w", err)
			}
			out = append(out, buf[:n]...)
		}
		if len(out) > maxDecompressed {
			return nil, fmt.Errorf("decompressed data exceeds %d bytes", maxDecompressed)
		}
		data = data[sz:]
		if blockChecksum {
			if len(data) < 4 {
				return nil, fmt.Errorf("lz4: truncated block checksum")
			}
			data = data[4:]
		}
	}
}
