// schema-registry.js: exercises sluice's schema registry with
// @kafkajs/confluent-schema-registry.
//
//   node schema-registry.js <registry-url> <hex of a record sluice's AvroConverter wrote>
//
// It decodes sluice's record, fetches its schema by id, registers a schema
// of its own, encodes a record with it and prints one JSON line:
// {"sluiceId", "sluiceRecord", "schemaName", "nodeId", "nodeLatestId", "nodeHex"}.
'use strict';
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry');

async function main() {
  const [url, hex] = process.argv.slice(2);
  const registry = new SchemaRegistry({ host: url });
  const sluiceBytes = Buffer.from(hex, 'hex');
  const sluiceId = sluiceBytes.readInt32BE(1);
  const sluiceRecord = await registry.decode(sluiceBytes);
  const type = await registry.getSchema(sluiceId);

  const schema = {
    type: 'record', name: 'NodeOrder', namespace: 'com.example',
    fields: [
      { name: 'id', type: 'long' },
      { name: 'customer', type: 'string' },
      { name: 'note', type: ['null', 'string'], default: null },
      { name: 'qty', type: 'int' },
      { name: 'paid', type: 'boolean' },
    ],
  };
  const { id: nodeId } = await registry.register(
    { type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject: 'node-orders-value' });
  const nodeLatestId = await registry.getLatestSchemaId('node-orders-value');
  const encoded = await registry.encode(nodeId, { id: 42, customer: 'ada', note: 'from node', qty: 3, paid: true });
  process.stdout.write(JSON.stringify({
    sluiceId, sluiceRecord, schemaName: type.name, nodeId, nodeLatestId, nodeHex: encoded.toString('hex'),
  }) + '\n');
}

main().catch((err) => { console.error(err); process.exit(1); });
