package broker_test

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/broker/auth"
	"github.com/sluicehq/sluice/internal/tlsgen"
)

// secCluster is three cluster-mode brokers with an authorizer, clients on
// a SASL_SSL listener (CLIENT) and replication on its own SASL_PLAINTEXT
// listener (INTERNAL) as the super user "broker".
type secCluster struct {
	t      *testing.T
	ca     *tlsgen.CA
	srv    *tls.Config
	quorum map[int32]string
	dirs   map[int32]string
	bs     map[int32]*broker.Broker
}

const brokerPass = "broker-secret"

func newSecCluster(t *testing.T) *secCluster {
	ca, err := tlsgen.NewCA("sluice test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Issue(tlsgen.Options{Hosts: []string{"127.0.0.1", "localhost"}, Subject: pkix.Name{CommonName: "broker"}})
	if err != nil {
		t.Fatal(err)
	}
	c := &secCluster{t: t, ca: ca, srv: &tls.Config{Certificates: []tls.Certificate{pair.TLS}},
		quorum: map[int32]string{}, dirs: map[int32]string{}, bs: map[int32]*broker.Broker{}}
	for id := int32(1); id <= 3; id++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c.quorum[id] = l.Addr().String()
		l.Close()
		c.dirs[id] = t.TempDir()
	}
	t.Cleanup(c.closeAll)
	return c
}

func (c *secCluster) start(id int32) {
	c.t.Helper()
	b, err := broker.New(broker.WithDataDir(c.dirs[id]), broker.WithNodeID(id), broker.WithLogger(quietLogger()),
		broker.WithControllerQuorum(c.quorum), broker.WithBrokerSessionTimeout(time.Second),
		broker.WithReplicaLagTime(2*time.Second), broker.WithGroupInitialRebalanceDelay(0),
		broker.WithTLSConfig(c.srv),
		broker.WithListeners(
			broker.Listener{Name: "CLIENT", Addr: "127.0.0.1:0", Protocol: broker.SASLSSL},
			broker.Listener{Name: "INTERNAL", Addr: "127.0.0.1:0", Protocol: broker.SASLPlaintext},
		),
		broker.WithInterBrokerListener("INTERNAL", broker.InterBrokerClient{Mechanism: "SCRAM-SHA-512", User: "broker", Password: brokerPass}),
		broker.WithAuthorizer(auth.AuthorizerConfig{SuperUsers: []string{"User:admin", "User:broker"}}))
	if err != nil {
		c.t.Fatal(err)
	}
	c.bs[id] = b
}

func (c *secCluster) closeAll() {
	for id, b := range c.bs {
		b.Close()
		delete(c.bs, id)
	}
}

// client is a SASL_SSL client whose only seed is broker id.
func (c *secCluster) client(id int32, user, pass string, opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.bs[id].ListenerAddrs()["CLIENT"]),
		kgo.DialTLSConfig(&tls.Config{RootCAs: c.ca.Pool(), ServerName: "127.0.0.1"}),
		kgo.SASL(scram512(user, pass)), kgo.RetryTimeout(20 * time.Second)}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// topicAllowed asks broker id (as user) for metadata of topic and reports
// whether the answer is not TOPIC_AUTHORIZATION_FAILED.
func topicAllowed(ctx context.Context, t *testing.T, cl *kgo.Client, id int32, topic string) bool {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	r, err := cl.Broker(int(id)).Request(ctx, req)
	if err != nil {
		t.Fatalf("metadata on broker %d: %v", id, err)
	}
	return r.(*kmsg.MetadataResponse).Topics[0].ErrorCode != kerr.TopicAuthorizationFailed.Code
}

// waitFor polls cond (a condition on replicated state reaching a broker).
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestClusterSecurity: SCRAM credentials and ACLs are replicated by the
// controller quorum (a user added via broker 2 authenticates on broker 1;
// an ACL created on broker 1 is enforced on broker 3; both survive a full
// restart), replication runs on its own SASL listener, and a client
// without ClusterAction cannot fetch as a follower.
func TestClusterSecurity(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-broker cluster")
	}
	c := newSecCluster(t)
	for id := int32(1); id <= 3; id++ {
		c.start(id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Bootstrap credentials through broker 2: they go through the quorum.
	for user, pass := range map[string]string{"admin": adminPass, "broker": brokerPass} {
		cred, err := auth.ScramSHA512.NewCredential(pass, auth.MinIterations)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.bs[2].Credentials().Set(user, auth.ScramSHA512, cred); err != nil {
			t.Fatalf("set %s via broker 2: %v", user, err)
		}
	}
	if err := c.bs[1].WaitClusterReady(ctx, 3); err != nil {
		t.Fatal(err)
	}
	// Metadata on a non-primary listener names every broker's listener of
	// that name.
	internal, err := kgo.NewClient(kgo.SeedBrokers(c.bs[1].ListenerAddrs()["INTERNAL"]), kgo.SASL(scram512("admin", adminPass)))
	if err != nil {
		t.Fatal(err)
	}
	bm, err := kadm.NewClient(internal).BrokerMetadata(ctx)
	internal.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, bd := range bm.Brokers {
		if got, want := net.JoinHostPort(bd.Host, strconv.Itoa(int(bd.Port))), c.bs[bd.NodeID].ListenerAddrs()["INTERNAL"]; got != want {
			t.Fatalf("metadata on INTERNAL: broker %d at %s, want its INTERNAL listener %s", bd.NodeID, got, want)
		}
	}
	// alice is added with AlterUserScramCredentials on broker 2.
	adm2 := c.client(2, "admin", adminPass)
	up, err := kadm.NewClient(adm2).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "alice-pw"}})
	if err != nil || up.Error() != nil {
		t.Fatalf("alter user scram on broker 2: %v %v", err, up.Error())
	}
	alice := c.client(1, "alice", "alice-pw")
	// It authenticates on broker 1 (a request there needs SASL first).
	waitFor(ctx, t, "alice's credential on broker 1", func() bool {
		_, err := alice.Broker(1).Request(ctx, kmsg.NewPtrApiVersionsRequest())
		return err == nil
	})
	adm1 := c.client(1, "admin", adminPass)
	if _, err := kadm.NewClient(adm1).CreateTopic(ctx, 1, 3, nil, "sec"); err != nil {
		t.Fatal(err)
	}
	if topicAllowed(ctx, t, alice, 3, "sec") {
		t.Fatal("alice may describe sec on broker 3 before any ACL")
	}
	// An ACL created on broker 1 ...
	creq := kmsg.NewPtrCreateACLsRequest()
	cr := kmsg.NewCreateACLsRequestCreation()
	cr.ResourceType, cr.ResourceName, cr.ResourcePatternType = kmsg.ACLResourceTypeTopic, "sec", kmsg.ACLResourcePatternTypeLiteral
	cr.Principal, cr.Host, cr.Operation, cr.PermissionType = "User:alice", "*", kmsg.ACLOperationAll, kmsg.ACLPermissionTypeAllow
	creq.Creations = append(creq.Creations, cr)
	r, err := adm1.Broker(1).Request(ctx, creq)
	if err != nil || r.(*kmsg.CreateACLsResponse).Results[0].ErrorCode != 0 {
		t.Fatalf("create ACL on broker 1: %v %+v", err, r)
	}
	// ... is enforced on broker 3.
	waitFor(ctx, t, "the ACL on broker 3", func() bool { return topicAllowed(ctx, t, alice, 3, "sec") })
	if topicAllowed(ctx, t, alice, 3, "other") {
		t.Fatal("alice may describe other on broker 3")
	}

	// Replication (on INTERNAL) works: acks=all records survive the
	// leader's shutdown.
	prod := c.client(1, "alice", "alice-pw", kgo.DefaultProduceTopic("sec"), kgo.RequiredAcks(kgo.AllISRAcks()))
	const n = 20
	for i := 0; i < n; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	md, err := kadm.NewClient(adm1).Metadata(ctx, "sec")
	if err != nil {
		t.Fatal(err)
	}
	p := md.Topics["sec"].Partitions[0]
	waitFor(ctx, t, "all replicas in sync", func() bool {
		md, err := kadm.NewClient(adm1).Metadata(ctx, "sec")
		return err == nil && len(md.Topics["sec"].Partitions[0].ISR) == 3
	})

	// A client without ClusterAction cannot fetch as a follower.
	follower := p.Replicas[0]
	if follower == p.Leader {
		follower = p.Replicas[1]
	}
	freq := kmsg.NewPtrFetchRequest()
	// franz-go picks the version: name the replica and topic both ways.
	freq.ReplicaID, freq.ReplicaState.ID, freq.ReplicaState.Epoch, freq.MaxWaitMillis = follower, follower, -1, 10
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = "sec", md.Topics["sec"].ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	freq.Topics = append(freq.Topics, ft)
	fr, err := alice.Broker(int(p.Leader)).Request(ctx, freq)
	if err != nil {
		t.Fatal(err)
	}
	fresp := fr.(*kmsg.FetchResponse)
	if len(fresp.Topics) != 1 || fresp.Topics[0].Partitions[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code || len(fresp.Topics[0].Partitions[0].RecordBatches) != 0 {
		t.Fatalf("follower fetch by alice = %+v, want CLUSTER_AUTHORIZATION_FAILED and no records", fresp.Topics)
	}
	oreq := kmsg.NewPtrOffsetForLeaderEpochRequest()
	oreq.Version, oreq.ReplicaID = 3, follower
	ot := kmsg.NewOffsetForLeaderEpochRequestTopic()
	ot.Topic = "sec"
	op := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	op.CurrentLeaderEpoch, op.LeaderEpoch = -1, 0
	ot.Partitions = append(ot.Partitions, op)
	oreq.Topics = append(oreq.Topics, ot)
	or, err := alice.Broker(int(p.Leader)).Request(ctx, oreq)
	if err != nil {
		t.Fatal(err)
	}
	if ots := or.(*kmsg.OffsetForLeaderEpochResponse).Topics; len(ots) != 1 || ots[0].Partitions[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("follower OffsetForLeaderEpoch by alice = %+v, want CLUSTER_AUTHORIZATION_FAILED", ots)
	}

	// Full restart: credentials, ACLs and data come back from the quorum
	// and the replicas.
	c.closeAll()
	for id := int32(1); id <= 3; id++ {
		c.start(id)
	}
	if err := c.bs[1].WaitClusterReady(ctx, 3); err != nil {
		t.Fatal(err)
	}
	// Until every broker re-registered, metadata may name old addresses.
	waitFor(ctx, t, "alice authenticating on broker 1 after the restart, all brokers re-registered", func() bool {
		cl := c.client(1, "alice", "alice-pw")
		md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
		if err != nil {
			cl.Close()
			return false
		}
		for _, bd := range md.Brokers {
			if net.JoinHostPort(bd.Host, strconv.Itoa(int(bd.Port))) != c.bs[bd.NodeID].ListenerAddrs()["CLIENT"] {
				cl.Close()
				return false
			}
		}
		alice = cl
		return len(md.Brokers) == 3
	})
	if !topicAllowed(ctx, t, alice, 3, "sec") || topicAllowed(ctx, t, alice, 3, "other") {
		t.Fatal("after the restart the ACLs on broker 3 are not those created before it")
	}
	cons := c.client(3, "alice", "alice-pw", kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"sec": {0: kgo.NewOffset().AtStart()}}))
	seen := map[string]bool{}
	for len(seen) < n {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume after restart (%d of %d read): %v", len(seen), n, err)
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
}
