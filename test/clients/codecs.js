'use strict'
// Minimal pure-JS compression codecs for kafkajs, which ships only gzip.
// They exist so sluice's broker compatibility tests can make kafkajs
// produce snappy, lz4 and zstd record batches without native modules:
//   - snappy: literal-only compressor, full raw/xerial decompressor
//   - lz4: frame compressor with stored (uncompressed) blocks, full frame
//     decompressor
//   - zstd: frame compressor with raw blocks; the decompressor handles raw
//     and RLE blocks only (enough for batches this file produced)
// Every output is a valid stream of its format; the Go tests read the
// batches kafkajs produced with franz-go to prove it.

const PRIME1 = 2654435761
const PRIME2 = 2246822519
const PRIME3 = 3266489917
const PRIME4 = 668265263
const PRIME5 = 374761393

const rotl = (x, r) => ((x << r) | (x >>> (32 - r))) >>> 0

// xxh32 for inputs shorter than 16 bytes (LZ4 frame descriptors).
function xxh32Small (buf, seed = 0) {
  if (buf.length >= 16) throw new Error('xxh32Small: input too long')
  let h = (seed + PRIME5 + buf.length) >>> 0
  let i = 0
  for (; i + 4 <= buf.length; i += 4) {
    h = (h + Math.imul(buf.readUInt32LE(i), PRIME3)) >>> 0
    h = Math.imul(rotl(h, 17), PRIME4) >>> 0
  }
  for (; i < buf.length; i++) {
    h = (h + Math.imul(buf[i], PRIME5)) >>> 0
    h = Math.imul(rotl(h, 11), PRIME1) >>> 0
  }
  h ^= h >>> 15
  h = Math.imul(h, PRIME2) >>> 0
  h ^= h >>> 13
  h = Math.imul(h, PRIME3) >>> 0
  h ^= h >>> 16
  return h >>> 0
}

function varint (n) {
  const out = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return Buffer.from(out)
}

function snappyCompress (src) {
  const parts = [varint(src.length)]
  for (let pos = 0; pos < src.length; pos += 65536) {
    const chunk = src.subarray(pos, Math.min(src.length, pos + 65536))
    const n = chunk.length - 1
    if (n < 60) parts.push(Buffer.from([n << 2]))
    else if (n < 256) parts.push(Buffer.from([60 << 2, n]))
    else parts.push(Buffer.from([61 << 2, n & 0xff, n >> 8]))
    parts.push(chunk)
  }
  return Buffer.concat(parts)
}

function snappyDecompressBlock (src) {
  let pos = 0
  let len = 0
  let shift = 0
  for (;;) {
    const b = src[pos++]
    len += (b & 0x7f) * 2 ** shift
    if (b < 0x80) break
    shift += 7
  }
  const out = Buffer.alloc(len)
  let o = 0
  while (pos < src.length) {
    const tag = src[pos++]
    const type = tag & 3
    if (type === 0) {
      let n = tag >> 2
      if (n >= 60) {
        const bytes = n - 59
        n = 0
        for (let i = 0; i < bytes; i++) n += src[pos++] * 2 ** (8 * i)
      }
      n += 1
      src.copy(out, o, pos, pos + n)
      pos += n
      o += n
      continue
    }
    let n, off
    if (type === 1) {
      n = ((tag >> 2) & 7) + 4
      off = ((tag >> 5) << 8) | src[pos++]
    } else if (type === 2) {
      n = (tag >> 2) + 1
      off = src.readUInt16LE(pos)
      pos += 2
    } else {
      n = (tag >> 2) + 1
      off = src.readUInt32LE(pos)
      pos += 4
    }
    if (off === 0 || off > o) throw new Error('snappy: bad copy offset')
    for (let i = 0; i < n; i++, o++) out[o] = out[o - off]
  }
  if (o !== len) throw new Error(`snappy: decoded ${o} bytes, header said ${len}`)
  return out
}

const XERIAL = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00])

function snappyDecompress (src) {
  if (src.length >= 16 && src.subarray(0, 8).equals(XERIAL)) {
    const parts = []
    let pos = 16
    while (pos < src.length) {
      const n = src.readUInt32BE(pos)
      pos += 4
      parts.push(snappyDecompressBlock(src.subarray(pos, pos + n)))
      pos += n
    }
    return Buffer.concat(parts)
  }
  return snappyDecompressBlock(src)
}

function lz4Compress (src) {
  const desc = Buffer.from([0x60, 0x40]) // version 1, independent blocks; 64 KiB blocks
  const hc = (xxh32Small(desc) >>> 8) & 0xff
  const parts = [Buffer.from([0x04, 0x22, 0x4d, 0x18]), desc, Buffer.from([hc])]
  for (let pos = 0; pos < src.length; pos += 65536) {
    const chunk = src.subarray(pos, Math.min(src.length, pos + 65536))
    const h = Buffer.alloc(4)
    h.writeUInt32LE((chunk.length | 0x80000000) >>> 0)
    parts.push(h, chunk)
  }
  parts.push(Buffer.alloc(4)) // end mark
  return Buffer.concat(parts)
}

function lz4DecompressBlock (src, out) {
  let pos = 0
  while (pos < src.length) {
    const token = src[pos++]
    let lit = token >> 4
    if (lit === 15) {
      let b
      do { b = src[pos++]; lit += b } while (b === 255)
    }
    for (let i = 0; i < lit; i++) out.push(src[pos++])
    if (pos >= src.length) break
    const off = src[pos] | (src[pos + 1] << 8)
    pos += 2
    let ml = token & 15
    if (ml === 15) {
      let b
      do { b = src[pos++]; ml += b } while (b === 255)
    }
    ml += 4
    if (off === 0 || off > out.length) throw new Error('lz4: bad match offset')
    const start = out.length - off
    for (let i = 0; i < ml; i++) out.push(out[start + i])
  }
}

function lz4Decompress (src) {
  if (src.readUInt32LE(0) !== 0x184d2204) throw new Error('lz4: bad magic')
  const flg = src[4]
  let pos = 7
  if (flg & 0x08) pos += 8
  if (flg & 0x01) pos += 4
  const blockChecksum = (flg & 0x10) !== 0
  const out = []
  for (;;) {
    const sz = src.readUInt32LE(pos)
    pos += 4
    if (sz === 0) break
    const n = sz & 0x7fffffff
    const block = src.subarray(pos, pos + n)
    if (sz & 0x80000000) {
      for (const b of block) out.push(b)
    } else {
      lz4DecompressBlock(block, out)
    }
    pos += n + (blockChecksum ? 4 : 0)
  }
  return Buffer.from(out)
}

const ZSTD_MAX_BLOCK = 128 * 1024

function zstdCompress (src) {
  const head = Buffer.alloc(9)
  head.writeUInt32LE(0xfd2fb528, 0)
  head[4] = 0xa0 // FCS 4 bytes, single segment, no checksum, no dictionary
  head.writeUInt32LE(src.length, 5)
  const parts = [head]
  let pos = 0
  do {
    const n = Math.min(ZSTD_MAX_BLOCK, src.length - pos)
    const last = pos + n >= src.length ? 1 : 0
    const bh = (n << 3) | (0 << 1) | last // raw block
    parts.push(Buffer.from([bh & 0xff, (bh >> 8) & 0xff, (bh >> 16) & 0xff]), src.subarray(pos, pos + n))
    pos += n
  } while (pos < src.length)
  return Buffer.concat(parts)
}

function zstdDecompress (src) {
  if (src.readUInt32LE(0) !== 0xfd2fb528) throw new Error('zstd: bad magic')
  const d = src[4]
  let pos = 5
  const single = (d & 0x20) !== 0
  if (!single) pos += 1
  pos += [0, 1, 2, 4][d & 3]
  pos += [single ? 1 : 0, 2, 4, 8][d >> 6]
  const parts = []
  for (;;) {
    const bh = src[pos] | (src[pos + 1] << 8) | (src[pos + 2] << 16)
    pos += 3
    const last = bh & 1
    const type = (bh >> 1) & 3
    const size = bh >> 3
    if (type === 0) {
      parts.push(src.subarray(pos, pos + size))
      pos += size
    } else if (type === 1) {
      parts.push(Buffer.alloc(size, src[pos]))
      pos += 1
    } else {
      throw new Error('zstd: compressed blocks are not supported by this test codec')
    }
    if (last) break
  }
  return Buffer.concat(parts)
}

function register (kafkajs) {
  const { CompressionTypes, CompressionCodecs } = kafkajs
  const wrap = (c, d) => () => ({
    async compress (encoder) { return c(encoder.buffer) },
    async decompress (buffer) { return d(buffer) }
  })
  CompressionCodecs[CompressionTypes.Snappy] = wrap(snappyCompress, snappyDecompress)
  CompressionCodecs[CompressionTypes.LZ4] = wrap(lz4Compress, lz4Decompress)
  CompressionCodecs[CompressionTypes.ZSTD] = wrap(zstdCompress, zstdDecompress)
}

module.exports = { register, snappyCompress, snappyDecompress, lz4Compress, lz4Decompress, zstdCompress, zstdDecompress }
