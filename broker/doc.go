// Package broker is sluice's bundled Kafka-protocol broker: a server built
// on franz-go's kmsg wire types that any Kafka client (franz-go,
// librdkafka/kcat, kafkajs, the Java client) can produce to and consume
// from. Partition storage lives in broker/log and the classic consumer-group
// coordinator in broker/group.
package broker
