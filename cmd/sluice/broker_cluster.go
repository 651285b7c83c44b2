package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/broker/controller"
)

// addClusterFlags registers the broker's cluster-mode flags; the returned
// func turns their values into broker options (none without
// --controller-quorum, so a plain broker is unchanged).
func addClusterFlags(fs *flag.FlagSet) func(nodeID int) ([]broker.Option, error) {
	quorum := fs.String("controller-quorum", "", "cluster mode: the metadata quorum as id@host:port,... (controller listener addresses; this broker's --node-id must be listed)")
	rack := fs.String("rack", "", "cluster mode: broker.rack (availability zone) for rack-aware replica placement")
	lag := fs.Duration("replica-lag-time", 30*time.Second, "cluster mode: replica.lag.time.max.ms, how long a follower may lag before it leaves the ISR")
	session := fs.Duration("broker-session-timeout", 9*time.Second, "cluster mode: broker.session.timeout.ms, how long without heartbeats before the controller fences a broker")
	rebalance := fs.Duration("leader-rebalance-interval", 5*time.Minute, "cluster mode: how often leadership moves back to preferred replicas (auto.leader.rebalance; negative disables)")
	rf := fs.Int("default-replication-factor", 3, "cluster mode: replication factor of auto-created topics (capped at the number of live brokers)")
	return func(nodeID int) ([]broker.Option, error) {
		if *quorum == "" {
			return nil, nil
		}
		voters, err := controller.ParseQuorum(*quorum)
		if err != nil {
			return nil, fmt.Errorf("--controller-quorum: %w", err)
		}
		if _, ok := voters[int32(nodeID)]; !ok {
			return nil, fmt.Errorf("--controller-quorum does not list --node-id %d", nodeID)
		}
		if *lag <= 0 || *session <= 0 {
			return nil, fmt.Errorf("--replica-lag-time and --broker-session-timeout must be positive")
		}
		if *rf < 1 || *rf > 32767 {
			return nil, fmt.Errorf("--default-replication-factor %d must be >= 1", *rf)
		}
		return []broker.Option{
			broker.WithControllerQuorum(voters),
			broker.WithRack(*rack),
			broker.WithReplicaLagTime(*lag),
			broker.WithBrokerSessionTimeout(*session),
			broker.WithDefaultReplicationFactor(int16(*rf)),
			broker.WithLeaderRebalanceInterval(*rebalance),
		}, nil
	}
}
