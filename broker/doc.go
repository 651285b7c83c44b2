// Package broker is sluice's bundled Kafka-protocol broker: a server built
// on franz-go's kmsg wire types that any Kafka client (franz-go,
// librdkafka/kcat, kafkajs, the Java client) can produce to and consume
// from. Partition storage lives in broker/log and the classic consumer-group
// coordinator in broker/group. WithControllerQuorum turns a broker into one
// node of a replicated cluster: broker/controller is the Raft metadata
// quorum, cluster*.go and replica*.go replicate partitions Kafka's way.
package broker
