'use strict'
// kafkajs produce/consume check used by sluice's broker compatibility
// tests (broker/compat_test.go).
//
//   node produce-consume.js <mode> <broker> <topic> <from> <count> <codec> [group]
//
// mode produce: sends records from..from+count-1 (key "key-<i>", value as
// in recValue in compat_test.go, header i=<i>) with acks=-1.
// mode consume: reads the topic from the beginning with a consumer group
// until count records arrived and checks each record's key, value and
// header exactly once. Prints one JSON summary line; exits 1 on any error.

const kafkajs = require('kafkajs')
const codecs = require('./codecs')

codecs.register(kafkajs)
const { Kafka, CompressionTypes, logLevel } = kafkajs

const [mode, broker, topic, fromS, countS, codec, groupArg] = process.argv.slice(2)
const from = parseInt(fromS, 10)
const count = parseInt(countS, 10)
const compression = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD
}[codec]
if (!mode || !broker || !topic || isNaN(from) || isNaN(count) || compression === undefined) {
  console.error('usage: node produce-consume.js produce|consume <broker> <topic> <from> <count> none|gzip|snappy|lz4|zstd [group]')
  process.exit(2)
}

const recKey = (i) => `key-${i}`
const recValue = (i) => `value-${i}-` + String.fromCharCode(97 + (i % 26)).repeat(i % 97)

const kafka = new Kafka({ clientId: 'sluice-compat', brokers: [broker], logLevel: logLevel.ERROR, retry: { retries: 10 } })

async function produce () {
  const producer = kafka.producer({ allowAutoTopicCreation: true })
  await producer.connect()
  const batch = 1000
  const inflight = []
  for (let i = from; i < from + count; i += batch) {
    const messages = []
    for (let j = i; j < Math.min(from + count, i + batch); j++) {
      messages.push({ key: recKey(j), value: recValue(j), headers: { i: String(j) } })
    }
    inflight.push(producer.send({ topic, compression, acks: -1, messages }))
    if (inflight.length >= 8) await inflight.shift()
  }
  await Promise.all(inflight)
  await producer.disconnect()
  return { produced: count }
}

async function consume () {
  const consumer = kafka.consumer({ groupId: groupArg || `kafkajs-${topic}-${Date.now()}` })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const seen = new Uint8Array(count)
  let got = 0
  let failure = null
  const done = new Promise((resolve) => {
    consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const key = m.key.toString()
          const i = parseInt(key.slice(4), 10)
          const idx = i - from
          if (!key.startsWith('key-') || isNaN(i) || idx < 0 || idx >= count) {
            failure = failure || `unexpected key ${key}`
          } else if (m.value.toString() !== recValue(i)) {
            failure = failure || `record ${i}: bad value ${m.value.toString().slice(0, 40)}`
          } else if (!m.headers.i || m.headers.i.toString() !== String(i)) {
            failure = failure || `record ${i}: bad header`
          } else if (seen[idx]) {
            failure = failure || `record ${i} consumed twice`
          } else {
            seen[idx] = 1
            got++
          }
        }
        if (got >= count || failure) resolve()
      }
    }).catch((e) => { failure = failure || String(e); resolve() })
  })
  const timer = setTimeout(() => { failure = failure || `timed out with ${got} of ${count} records` }, 120000)
  await Promise.race([done, new Promise((resolve) => { const t = setInterval(() => { if (failure) { clearInterval(t); resolve() } }, 100) })])
  clearTimeout(timer)
  await consumer.disconnect()
  if (failure) throw new Error(failure)
  return { consumed: got }
}

const started = Date.now()
;(mode === 'produce' ? produce() : consume()).then((r) => {
  console.log(JSON.stringify({ ...r, ms: Date.now() - started }))
  process.exit(0)
}, (e) => {
  console.error(`kafkajs ${mode} failed: ${e.stack || e}`)
  process.exit(1)
})
