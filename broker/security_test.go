package broker_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/broker/auth"
	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/internal/tlsgen"
)

// secEnv is a broker with one listener per security protocol, a CA, and
// a super user "admin".
type secEnv struct {
	b     *broker.Broker
	dir   string
	ca    *tlsgen.CA
	addrs map[string]string
	opts  []broker.Option
}

const adminPass = "admin-secret"

func startSecure(t testing.TB, dir string, extra ...broker.Option) *secEnv {
	t.Helper()
	ca, err := tlsgen.NewCA("sluice test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return startSecureWithCA(t, dir, ca, extra...)
}

func startSecureWithCA(t testing.TB, dir string, ca *tlsgen.CA, extra ...broker.Option) *secEnv {
	t.Helper()
	srv, err := ca.Issue(tlsgen.Options{Hosts: []string{"127.0.0.1", "localhost"}, Subject: pkix.Name{CommonName: "broker"}})
	if err != nil {
		t.Fatal(err)
	}
	base := &tls.Config{Certificates: []tls.Certificate{srv.TLS}}
	mtls := base.Clone()
	mtls.ClientAuth, mtls.ClientCAs = tls.RequireAndVerifyClientCert, ca.Pool()
	opts := append([]broker.Option{
		broker.WithDataDir(dir),
		broker.WithLogger(quietLogger()),
		broker.WithGroupInitialRebalanceDelay(0),
		broker.WithTLSConfig(base),
		broker.WithListeners(
			broker.Listener{Name: "CLIENT", Addr: "127.0.0.1:0", Protocol: broker.SASLSSL},
			broker.Listener{Name: "PLAINTEXT", Addr: "127.0.0.1:0", Protocol: broker.Plaintext},
			broker.Listener{Name: "MTLS", Addr: "127.0.0.1:0", Protocol: broker.SSL, TLS: mtls},
			broker.Listener{Name: "SASL_PLAINTEXT", Addr: "127.0.0.1:0", Protocol: broker.SASLPlaintext},
		),
		broker.WithAuthorizer(auth.AuthorizerConfig{SuperUsers: []string{"User:admin", "User:CN=ops,O=sluice"}}),
		broker.WithPrincipalMapping(mustRules(t, "RULE:^CN=([^,]*),OU=apps,O=sluice$/$1/L,DEFAULT")),
	}, extra...)
	b, err := broker.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	e := &secEnv{b: b, dir: dir, ca: ca, addrs: b.ListenerAddrs(), opts: opts}
	if !b.Credentials().HasUser("admin") {
		e.setUser(t, "admin", adminPass, auth.ScramSHA512)
	}
	return e
}

func mustRules(t testing.TB, s string) *auth.PrincipalMapper {
	pm, err := auth.ParseMappingRules(s)
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

func (e *secEnv) setUser(t testing.TB, user, pass string, m auth.Mechanism) {
	t.Helper()
	cred, err := m.NewCredential(pass, auth.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.b.Credentials().Set(user, m, cred); err != nil {
		t.Fatal(err)
	}
}

func (e *secEnv) clientTLS(cert *tlsgen.Pair) *tls.Config {
	cfg := &tls.Config{RootCAs: e.ca.Pool(), ServerName: "127.0.0.1"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{cert.TLS}
	}
	return cfg
}

func scram512(user, pass string) sasl.Mechanism {
	return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
}

// client returns a franz-go client on the named listener.
func (e *secEnv) client(t testing.TB, listener string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(e.addrs[listener]), kgo.RetryTimeout(5 * time.Second), kgo.AllowAutoTopicCreation()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func (e *secEnv) admin(t testing.TB) *kgo.Client {
	return e.client(t, "CLIENT", kgo.DialTLSConfig(e.clientTLS(nil)), kgo.SASL(scram512("admin", adminPass)))
}

func createACLs(t testing.TB, adm *kadm.Client, b *kadm.ACLBuilder) {
	t.Helper()
	res, err := adm.CreateACLs(context.Background(), b.AllowHosts("*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("CreateACLs %s: %v", r.Name, r.Err)
		}
	}
}

func kadmClient(cl *kgo.Client) *kadm.Client { return kadm.NewClient(cl) }

// aclAllowTopic allows principal everything on a literal topic.
func aclAllowTopic(principal, topic string) *kadm.ACLBuilder {
	return kadm.NewACLs().Allow(principal).Topics(topic).Operations(kadm.OpAll).ResourcePatternType(kadm.ACLPatternLiteral)
}

func produceConsume(t testing.TB, cl *kgo.Client, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v-" + topic)}).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}})
	defer cl.RemoveConsumePartitions(map[string][]int32{topic: {0}})
	for {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume %s: %v", topic, err)
		}
		if fs.NumRecords() > 0 {
			if got := string(fs.Records()[0].Value); got != "v-"+topic {
				t.Fatalf("consumed %q", got)
			}
			return
		}
	}
}

// Every protocol with a real client: SASL_SSL with SCRAM-SHA-512 and -256,
// SASL_PLAINTEXT with PLAIN, SSL with a client certificate (mTLS) whose
// subject maps to a super user, and PLAINTEXT as ANONYMOUS (which the
// authorizer then refuses).
func TestSecurityProtocolsWithFranzGo(t *testing.T) {
	e := startSecure(t, t.TempDir())
	e.setUser(t, "alice256", "pw256", auth.ScramSHA256)
	ops, err := e.ca.Issue(tlsgen.Options{Client: true, Subject: pkix.Name{CommonName: "ops", Organization: []string{"sluice"}}})
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(e.admin(t))
	ctx := context.Background()
	createACLs(t, adm, kadm.NewACLs().Allow("User:alice256").Topics("t-scram256").Operations(kadm.OpAll).ResourcePatternType(kadm.ACLPatternLiteral))
	for _, tc := range []struct {
		name, listener string
		opts           []kgo.Opt
	}{
		{"SASL_SSL SCRAM-SHA-512", "CLIENT", []kgo.Opt{kgo.DialTLSConfig(e.clientTLS(nil)), kgo.SASL(scram512("admin", adminPass))}},
		{"SASL_SSL SCRAM-SHA-256", "CLIENT", []kgo.Opt{kgo.DialTLSConfig(e.clientTLS(nil)), kgo.SASL(scram.Auth{User: "alice256", Pass: "pw256"}.AsSha256Mechanism())}},
		{"SASL_PLAINTEXT PLAIN", "SASL_PLAINTEXT", []kgo.Opt{kgo.SASL(plain.Auth{User: "admin", Pass: adminPass}.AsMechanism())}},
		{"SSL mTLS", "MTLS", []kgo.Opt{kgo.DialTLSConfig(e.clientTLS(ops))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "t-" + strings.ToLower(strings.Fields(tc.name)[1])
			if tc.name == "SASL_SSL SCRAM-SHA-256" {
				topic = "t-scram256"
				if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
					t.Fatal(err)
				}
			}
			produceConsume(t, e.client(t, tc.listener, tc.opts...), topic)
		})
	}
	t.Run("PLAINTEXT anonymous is denied", func(t *testing.T) {
		cl := e.client(t, "PLAINTEXT")
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t-scram-sha-512", Value: []byte("x")}).FirstErr()
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("anonymous produce: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
	})
	// Each listener's metadata advertises that listener's address.
	for name, addr := range e.addrs {
		if name == "PLAINTEXT" || name == "CLIENT" {
			continue
		}
		var opts []kgo.Opt
		switch name {
		case "MTLS":
			opts = []kgo.Opt{kgo.DialTLSConfig(e.clientTLS(ops))}
		case "SASL_PLAINTEXT":
			opts = []kgo.Opt{kgo.SASL(plain.Auth{User: "admin", Pass: adminPass}.AsMechanism())}
		}
		md, err := kadm.NewClient(e.client(t, name, opts...)).BrokerMetadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := net.JoinHostPort(md.Brokers[0].Host, fmt.Sprint(md.Brokers[0].Port)); got != addr {
			t.Errorf("listener %s advertises %s, want %s", name, got, addr)
		}
	}
}

// Wrong password, unknown user, wrong mechanism, unknown and expired
// client certificates each fail with the right error.
func TestAuthenticationFailures(t *testing.T) {
	e := startSecure(t, t.TempDir())
	other, err := tlsgen.NewCA("other CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	stranger, _ := other.Issue(tlsgen.Options{Client: true, Subject: pkix.Name{CommonName: "stranger"}})
	expired, _ := e.ca.Issue(tlsgen.Options{Client: true, Subject: pkix.Name{CommonName: "old"},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	ctx := context.Background()
	for _, tc := range []struct {
		name, listener string
		opts           []kgo.Opt
		check          func(error) bool
	}{
		{"SCRAM wrong password", "CLIENT", []kgo.Opt{kgo.DialTLSConfig(e.clientTLS(nil)), kgo.SASL(scram512("admin", "nope"))},
			func(err error) bool { return errors.Is(err, kerr.SaslAuthenticationFailed) }},
		{"SCRAM unknown user", "CLIENT", []kgo.Opt{kgo.DialTLSConfig(e.clientTLS(nil)), kgo.SASL(scram512("ghost", "x"))},
			func(err error) bool { return errors.Is(err, kerr.SaslAuthenticationFailed) }},
		{"SCRAM-256 without a 256 credential", "CLIENT", []kgo.Opt{kgo.DialTLSConfig(e.clientTLS(nil)), kgo.SASL(scram.Auth{User: "admin", Pass: adminPass}.AsSha256Mechanism())},
			func(err error) bool { return errors.Is(err, kerr.SaslAuthenticationFailed) }},
		{"PLAIN wrong password", "SASL_PLAINTEXT", []kgo.Opt{kgo.SASL(plain.Auth{User: "admin", Pass: "nope"}.AsMechanism())},
			func(err error) bool { return errors.Is(err, kerr.SaslAuthenticationFailed) }},
		{"mTLS certificate from an unknown CA", "MTLS", []kgo.Opt{kgo.DialTLSConfig(e.clientTLS(stranger))},
			func(err error) bool { return err != nil && strings.Contains(err.Error(), "certificate") }},
		{"mTLS expired certificate", "MTLS", []kgo.Opt{kgo.DialTLSConfig(e.clientTLS(expired))},
			func(err error) bool { return err != nil && strings.Contains(err.Error(), "certificate") }},
		{"mTLS without a certificate", "MTLS", []kgo.Opt{kgo.DialTLSConfig(e.clientTLS(nil))},
			func(err error) bool { return err != nil && strings.Contains(err.Error(), "certificate") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := e.client(t, tc.listener, append(tc.opts, kgo.RequestRetries(0))...)
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest())
			if !tc.check(err) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// A principal with Read on one topic cannot read another, cannot join a
// group it has no ACL for, and gets the exact Kafka error per API.
func TestACLDenialCodesPerAPI(t *testing.T) {
	e := startSecure(t, t.TempDir())
	e.setUser(t, "bob", "bobpw", auth.ScramSHA512)
	ctx := context.Background()
	adm := kadm.NewClient(e.admin(t))
	for _, tp := range []string{"mine", "theirs"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, tp); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.admin(t).ProduceSync(ctx, &kgo.Record{Topic: "theirs", Value: []byte("secret")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	createACLs(t, adm, kadm.NewACLs().Allow("User:bob").Topics("mine").Operations(kadm.OpRead, kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral))
	createACLs(t, adm, kadm.NewACLs().Allow("User:bob").Groups("bob-").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternPrefixed))
	bob := e.client(t, "CLIENT", kgo.DialTLSConfig(e.clientTLS(nil)), kgo.SASL(scram512("bob", "bobpw")), kgo.RequestRetries(0))
	// bobOld speaks Kafka 2.3's versions (unbatched FindCoordinator and
	// OffsetFetch, DeleteTopics by name).
	bobOld := e.client(t, "CLIENT", kgo.DialTLSConfig(e.clientTLS(nil)), kgo.SASL(scram512("bob", "bobpw")), kgo.RequestRetries(0), kgo.MaxVersions(kversion.V2_3_0()))
	reqOn := func(cl *kgo.Client, r kmsg.Request) kmsg.Response {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		resp, err := cl.SeedBrokers()[0].Request(ctx, r)
		if err != nil {
			t.Fatalf("%s: %v", kmsg.NameForKey(r.Key()), err)
		}
		return resp
	}
	req := func(r kmsg.Request) kmsg.Response { return reqOn(bob, r) }
	old := func(r kmsg.Request) kmsg.Response { return reqOn(bobOld, r) }
	theirsID := func() [16]byte {
		tds, err := adm.ListTopics(ctx, "theirs")
		if err != nil {
			t.Fatal(err)
		}
		return tds["theirs"].ID
	}()
	for _, tc := range []struct {
		name string
		do   func() int16
		want *kerr.Error
	}{
		{"Produce other topic", func() int16 {
			r := kmsg.NewPtrProduceRequest()
			r.Acks, r.TimeoutMillis = -1, 5000
			tp := kmsg.NewProduceRequestTopic()
			tp.Topic = "theirs"
			tp.Partitions = []kmsg.ProduceRequestTopicPartition{kmsg.NewProduceRequestTopicPartition()}
			r.Topics = append(r.Topics, tp)
			return req(r).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
		}, kerr.TopicAuthorizationFailed},
		{"Fetch other topic (by id)", func() int16 {
			r := kmsg.NewPtrFetchRequest()
			r.ReplicaID, r.MaxWaitMillis = -1, 10
			tp := kmsg.NewFetchRequestTopic()
			tp.TopicID = theirsID
			p := kmsg.NewFetchRequestTopicPartition()
			p.PartitionMaxBytes = 1 << 20
			tp.Partitions = append(tp.Partitions, p)
			r.Topics = append(r.Topics, tp)
			return req(r).(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode
		}, kerr.TopicAuthorizationFailed},
		{"ListOffsets other topic", func() int16 {
			r := kmsg.NewPtrListOffsetsRequest()
			tp := kmsg.NewListOffsetsRequestTopic()
			tp.Topic = "theirs"
			p := kmsg.NewListOffsetsRequestTopicPartition()
			p.Timestamp = -1
			tp.Partitions = append(tp.Partitions, p)
			r.Topics = append(r.Topics, tp)
			return req(r).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode
		}, kerr.TopicAuthorizationFailed},
		{"Metadata named other topic", func() int16 {
			r := kmsg.NewPtrMetadataRequest()
			r.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("theirs")}}
			return req(r).(*kmsg.MetadataResponse).Topics[0].ErrorCode
		}, kerr.TopicAuthorizationFailed},
		{"Metadata auto-create without Create", func() int16 {
			r := kmsg.NewPtrMetadataRequest()
			r.AllowAutoTopicCreation = true
			r.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("brand-new")}}
			return req(r).(*kmsg.MetadataResponse).Topics[0].ErrorCode
		}, kerr.TopicAuthorizationFailed},
		{"CreateTopics", func() int16 {
			r := kmsg.NewPtrCreateTopicsRequest()
			tp := kmsg.NewCreateTopicsRequestTopic()
			tp.Topic, tp.NumPartitions, tp.ReplicationFactor = "bobs-new", 1, 1
			r.Topics = append(r.Topics, tp)
			return req(r).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
		}, kerr.TopicAuthorizationFailed},
		{"DeleteTopics by name (v<6)", func() int16 {
			r := kmsg.NewPtrDeleteTopicsRequest()
			r.TopicNames = []string{"mine"}
			return old(r).(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode
		}, kerr.TopicAuthorizationFailed},
		{"DeleteTopics", func() int16 {
			r := kmsg.NewPtrDeleteTopicsRequest()
			r.Topics = []kmsg.DeleteTopicsRequestTopic{{Topic: kmsg.StringPtr("mine")}}
			return req(r).(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode
		}, kerr.TopicAuthorizationFailed},
		{"CreatePartitions", func() int16 {
			r := kmsg.NewPtrCreatePartitionsRequest()
			tp := kmsg.NewCreatePartitionsRequestTopic()
			tp.Topic, tp.Count = "mine", 2
			r.Topics = append(r.Topics, tp)
			return req(r).(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode
		}, kerr.TopicAuthorizationFailed},
		{"DeleteRecords", func() int16 {
			r := kmsg.NewPtrDeleteRecordsRequest()
			tp := kmsg.NewDeleteRecordsRequestTopic()
			tp.Topic = "mine"
			tp.Partitions = []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0, Offset: 0}}
			r.Topics = append(r.Topics, tp)
			return req(r).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0].ErrorCode
		}, kerr.TopicAuthorizationFailed},
		{"DescribeConfigs topic", func() int16 {
			r := kmsg.NewPtrDescribeConfigsRequest()
			r.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "theirs"}}
			return req(r).(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode
		}, kerr.TopicAuthorizationFailed},
		{"DescribeConfigs broker", func() int16 {
			r := kmsg.NewPtrDescribeConfigsRequest()
			r.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "0"}}
			return req(r).(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode
		}, kerr.ClusterAuthorizationFailed},
		{"IncrementalAlterConfigs topic", func() int16 {
			r := kmsg.NewPtrIncrementalAlterConfigsRequest()
			r.Resources = []kmsg.IncrementalAlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "mine"}}
			return req(r).(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode
		}, kerr.TopicAuthorizationFailed},
		{"AlterConfigs topic", func() int16 {
			r := kmsg.NewPtrAlterConfigsRequest()
			r.Resources = []kmsg.AlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "mine"}}
			return req(r).(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode
		}, kerr.TopicAuthorizationFailed},
		{"DescribeCluster", func() int16 {
			return req(kmsg.NewPtrDescribeClusterRequest()).(*kmsg.DescribeClusterResponse).ErrorCode
		}, kerr.ClusterAuthorizationFailed},
		{"DescribeLogDirs", func() int16 {
			return req(kmsg.NewPtrDescribeLogDirsRequest()).(*kmsg.DescribeLogDirsResponse).ErrorCode
		}, kerr.ClusterAuthorizationFailed},
		{"FindCoordinator group", func() int16 {
			r := kmsg.NewPtrFindCoordinatorRequest()
			r.CoordinatorKey = "other-group"
			return old(r).(*kmsg.FindCoordinatorResponse).ErrorCode
		}, kerr.GroupAuthorizationFailed},
		{"FindCoordinator batched", func() int16 {
			r := kmsg.NewPtrFindCoordinatorRequest()
			r.CoordinatorKeys = []string{"other-group"}
			return req(r).(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode
		}, kerr.GroupAuthorizationFailed},
		{"JoinGroup", func() int16 {
			r := kmsg.NewPtrJoinGroupRequest()
			r.Group, r.ProtocolType, r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = "other-group", "consumer", 10000, 10000
			r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
			return req(r).(*kmsg.JoinGroupResponse).ErrorCode
		}, kerr.GroupAuthorizationFailed},
		{"SyncGroup", func() int16 {
			r := kmsg.NewPtrSyncGroupRequest()
			r.Group = "other-group"
			return req(r).(*kmsg.SyncGroupResponse).ErrorCode
		}, kerr.GroupAuthorizationFailed},
		{"Heartbeat", func() int16 {
			r := kmsg.NewPtrHeartbeatRequest()
			r.Group = "other-group"
			return req(r).(*kmsg.HeartbeatResponse).ErrorCode
		}, kerr.GroupAuthorizationFailed},
		{"LeaveGroup", func() int16 {
			r := kmsg.NewPtrLeaveGroupRequest()
			r.Group = "other-group"
			return req(r).(*kmsg.LeaveGroupResponse).ErrorCode
		}, kerr.GroupAuthorizationFailed},
		{"OffsetCommit other group", func() int16 {
			r := kmsg.NewPtrOffsetCommitRequest()
			r.Group, r.Generation = "other-group", -1
			tp := kmsg.NewOffsetCommitRequestTopic()
			tp.Topic = "mine"
			tp.Partitions = []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 0}}
			r.Topics = append(r.Topics, tp)
			return req(r).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
		}, kerr.GroupAuthorizationFailed},
		{"OffsetCommit own group, other topic", func() int16 {
			r := kmsg.NewPtrOffsetCommitRequest()
			r.Group, r.Generation = "bob-group", -1
			tp := kmsg.NewOffsetCommitRequestTopic()
			tp.Topic = "theirs"
			tp.Partitions = []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 0}}
			r.Topics = append(r.Topics, tp)
			return req(r).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
		}, kerr.TopicAuthorizationFailed},
		{"OffsetFetch other group", func() int16 {
			r := kmsg.NewPtrOffsetFetchRequest()
			r.Group = "other-group"
			return old(r).(*kmsg.OffsetFetchResponse).ErrorCode
		}, kerr.GroupAuthorizationFailed},
		{"OffsetFetch batched other group", func() int16 {
			r := kmsg.NewPtrOffsetFetchRequest()
			r.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "other-group"}}
			return req(r).(*kmsg.OffsetFetchResponse).Groups[0].ErrorCode
		}, kerr.GroupAuthorizationFailed},
		{"OffsetDelete", func() int16 {
			r := kmsg.NewPtrOffsetDeleteRequest()
			r.Group = "bob-group"
			return req(r).(*kmsg.OffsetDeleteResponse).ErrorCode
		}, kerr.GroupAuthorizationFailed},
		{"DescribeGroups", func() int16 {
			r := kmsg.NewPtrDescribeGroupsRequest()
			r.Groups = []string{"other-group"}
			return req(r).(*kmsg.DescribeGroupsResponse).Groups[0].ErrorCode
		}, kerr.GroupAuthorizationFailed},
		{"DeleteGroups", func() int16 {
			r := kmsg.NewPtrDeleteGroupsRequest()
			r.Groups = []string{"bob-group"}
			return req(r).(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode
		}, kerr.GroupAuthorizationFailed},
		{"InitProducerId transactional", func() int16 {
			r := kmsg.NewPtrInitProducerIDRequest()
			r.TransactionalID = kmsg.StringPtr("txn")
			r.TransactionTimeoutMillis = 10000
			return req(r).(*kmsg.InitProducerIDResponse).ErrorCode
		}, kerr.TransactionalIDAuthorizationFailed},
		{"Produce transactional", func() int16 {
			r := kmsg.NewPtrProduceRequest()
			r.Acks, r.TimeoutMillis, r.TransactionID = -1, 5000, kmsg.StringPtr("txn")
			tp := kmsg.NewProduceRequestTopic()
			tp.Topic = "mine"
			tp.Partitions = []kmsg.ProduceRequestTopicPartition{kmsg.NewProduceRequestTopicPartition()}
			r.Topics = append(r.Topics, tp)
			return req(r).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
		}, kerr.TransactionalIDAuthorizationFailed},
		{"CreateAcls", func() int16 {
			r := kmsg.NewPtrCreateACLsRequest()
			c := kmsg.NewCreateACLsRequestCreation()
			c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceTypeTopic, "theirs", kmsg.ACLResourcePatternTypeLiteral
			c.Principal, c.Host, c.Operation, c.PermissionType = "User:bob", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
			r.Creations = append(r.Creations, c)
			return req(r).(*kmsg.CreateACLsResponse).Results[0].ErrorCode
		}, kerr.ClusterAuthorizationFailed},
		{"DescribeAcls", func() int16 {
			r := kmsg.NewPtrDescribeACLsRequest()
			r.ResourceType, r.ResourcePatternType, r.Operation, r.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
			return req(r).(*kmsg.DescribeACLsResponse).ErrorCode
		}, kerr.ClusterAuthorizationFailed},
		{"AlterUserScramCredentials", func() int16 {
			r := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
			r.Deletions = []kmsg.AlterUserSCRAMCredentialsRequestDeletion{{Name: "admin", Mechanism: 2}}
			return req(r).(*kmsg.AlterUserSCRAMCredentialsResponse).Results[0].ErrorCode
		}, kerr.ClusterAuthorizationFailed},
		{"DescribeUserScramCredentials", func() int16 {
			return req(kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()).(*kmsg.DescribeUserSCRAMCredentialsResponse).ErrorCode
		}, kerr.ClusterAuthorizationFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.do(); got != tc.want.Code {
				t.Fatalf("error code %d (%v), want %s", got, kerr.ErrorForCode(got), tc.want.Message)
			}
		})
	}

	t.Run("reads its own topic, not the other", func(t *testing.T) {
		produceConsume(t, bob, "mine")
		bob.AddConsumePartitions(map[string]map[int32]kgo.Offset{"theirs": {0: kgo.NewOffset().AtStart()}})
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for {
			fs := bob.PollFetches(ctx)
			if fs.NumRecords() > 0 {
				t.Fatalf("read %d records from a topic without Read", fs.NumRecords())
			}
			if err := fs.Err0(); err != nil {
				if !errors.Is(err, kerr.TopicAuthorizationFailed) {
					t.Fatalf("fetch theirs: %v, want TOPIC_AUTHORIZATION_FAILED", err)
				}
				return
			}
		}
	})
	t.Run("Metadata lists only describable topics", func(t *testing.T) {
		md, err := kadm.NewClient(bob).Metadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := md.Topics.Names(); len(got) != 1 || got[0] != "mine" {
			t.Fatalf("bob sees topics %v, want [mine]", got)
		}
		md, err = adm.Metadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(md.Topics.Names()) < 2 {
			t.Fatalf("admin sees %v", md.Topics.Names())
		}
	})
	t.Run("group consumer with and without a group ACL", func(t *testing.T) {
		for _, grp := range []string{"bob-consumers", "other-consumers"} {
			cl := e.client(t, "CLIENT", kgo.DialTLSConfig(e.clientTLS(nil)), kgo.SASL(scram512("bob", "bobpw")),
				kgo.ConsumerGroup(grp), kgo.ConsumeTopics("mine"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			fs := cl.PollFetches(ctx)
			cancel()
			err := fs.Err0()
			if grp == "bob-consumers" && (err != nil || fs.NumRecords() == 0) {
				t.Fatalf("%s: %d records, %v", grp, fs.NumRecords(), err)
			}
			if grp == "other-consumers" && !errors.Is(err, kerr.GroupAuthorizationFailed) {
				t.Fatalf("%s: %v, want GROUP_AUTHORIZATION_FAILED", grp, err)
			}
		}
	})
}

// ACLs and SCRAM credentials made through the Kafka APIs (kadm) survive a
// restart; credentials are stored salted.
func TestSecurityStatePersists(t *testing.T) {
	dir := t.TempDir()
	e := startSecure(t, dir)
	ctx := context.Background()
	adm := kadm.NewClient(e.admin(t))
	if _, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "carol", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "carolpw"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "carols"); err != nil {
		t.Fatal(err)
	}
	createACLs(t, adm, kadm.NewACLs().Allow("User:carol").Topics("carol").Operations(kadm.OpAll).ResourcePatternType(kadm.ACLPatternPrefixed))
	e.b.Close()

	e2 := startSecureWithCA(t, dir, e.ca)
	carol := e2.client(t, "CLIENT", kgo.DialTLSConfig(e2.clientTLS(nil)), kgo.SASL(scram512("carol", "carolpw")))
	produceConsume(t, carol, "carols")
	adm2 := kadm.NewClient(e2.admin(t))
	described, err := adm2.DescribeUserSCRAMs(ctx, "carol")
	if err != nil || described["carol"].Err != nil || len(described["carol"].CredInfos) != 1 {
		t.Fatalf("DescribeUserSCRAMs after restart: %v %+v", err, described)
	}
	res, err := adm2.DescribeACLs(ctx, kadm.NewACLs().Allow("User:carol").Topics("carol").Operations(kadm.OpAll).ResourcePatternType(kadm.ACLPatternPrefixed).AllowHosts("*"))
	if err != nil || len(res) != 1 || len(res[0].Described) != 1 {
		t.Fatalf("DescribeACLs after restart: %v %+v", err, res)
	}
	// Deleting the credential locks carol out.
	if _, err := adm2.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "carol", Mechanism: kadm.ScramSha512}}, nil); err != nil {
		t.Fatal(err)
	}
	cl := e2.client(t, "CLIENT", kgo.DialTLSConfig(e2.clientTLS(nil)), kgo.SASL(scram512("carol", "carolpw")), kgo.RequestRetries(0))
	ctx2, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cl.Request(ctx2, kmsg.NewPtrMetadataRequest()); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("deleted user: %v", err)
	}
}

// KIP-368: the broker announces the session lifetime; franz-go
// re-authenticates on its own and keeps working past it, while a client
// that does not re-authenticate is disconnected at its next request after
// the session expired.
func TestSASLReauthentication(t *testing.T) {
	var logs testenv.SyncBuffer
	lg := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := startSecure(t, t.TempDir(), broker.WithReauthInterval(time.Second), broker.WithLogger(lg))
	cl := e.admin(t)
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for n := 0; strings.Count(logs.String(), "SASL re-authentication succeeded") < 2; n++ {
		if time.Now().After(deadline) {
			t.Fatalf("franz-go did not re-authenticate twice within 30s (%d produces)", n)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "reauth", Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("produce %d across re-authentications: %v", n, err)
		}
	}

	// A raw client that authenticates once.
	c, err := net.Dial("tcp", e.addrs["SASL_PLAINTEXT"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "PLAIN"
	if resp, err := rawRequest(c, hs); err != nil || resp.(*kmsg.SASLHandshakeResponse).ErrorCode != 0 {
		t.Fatalf("handshake: %v %+v", err, resp)
	}
	au := kmsg.NewPtrSASLAuthenticateRequest()
	au.Version, au.SASLAuthBytes = 1, []byte("\x00admin\x00"+adminPass)
	resp, err := rawRequest(c, au)
	if err != nil {
		t.Fatal(err)
	}
	ar := resp.(*kmsg.SASLAuthenticateResponse)
	if ar.ErrorCode != 0 || ar.SessionLifetimeMillis != 1000 {
		t.Fatalf("authenticate: code %d, session lifetime %d ms, want 0 and 1000", ar.ErrorCode, ar.SessionLifetimeMillis)
	}
	expiry := time.Now().Add(time.Second)
	for {
		_, err := rawRequest(c, kmsg.NewPtrMetadataRequest())
		if err != nil {
			if time.Now().Before(expiry) {
				t.Fatalf("connection closed before the session expired: %v", err)
			}
			break
		}
		if time.Now().After(expiry.Add(10 * time.Second)) {
			t.Fatal("connection still served 10s after its session expired")
		}
		time.Sleep(50 * time.Millisecond) // pacing the probe, not a wait for a result
	}
	if !strings.Contains(logs.String(), "SASL session expired") {
		t.Fatal("broker did not log the expired session")
	}
}

// rawRequest writes one request on c and reads its response.
func rawRequest(c net.Conn, req kmsg.Request) (kmsg.Response, error) {
	body := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	body = binary.BigEndian.AppendUint16(body, uint16(req.GetVersion()))
	body = binary.BigEndian.AppendUint32(body, 1)
	body = binary.BigEndian.AppendUint16(body, 4)
	body = append(body, "test"...)
	if req.IsFlexible() {
		body = append(body, 0)
	}
	body = req.AppendTo(body)
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(append(frame, body...)); err != nil {
		return nil, err
	}
	var sz [4]byte
	if _, err := io.ReadFull(c, sz[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint32(sz[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	buf = buf[4:]
	if resp.IsFlexible() && req.Key() != 18 {
		buf = buf[1:]
	}
	return resp, resp.ReadFrom(buf)
}

// Security checks wrap every API the broker serves: each API key of
// ApiVersions gets an answer for a principal without any ACL, not a
// closed connection (which is what an API without a client rule gets,
// unless the principal has ClusterAction: add a rule to authz.go for
// every new client API).
func TestEveryAPIHasAuthorizationRule(t *testing.T) {
	e := startSecure(t, t.TempDir())
	e.setUser(t, "nobody", "pw", auth.ScramSHA512)
	cl := e.client(t, "CLIENT", kgo.DialTLSConfig(e.clientTLS(nil)), kgo.SASL(scram512("nobody", "pw")), kgo.RequestRetries(0))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	av, err := cl.Request(ctx, kmsg.NewPtrApiVersionsRequest())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range av.(*kmsg.ApiVersionsResponse).ApiKeys {
		if k.ApiKey == 17 || k.ApiKey == 36 || k.ApiKey == 18 {
			continue // SASL exchange and ApiVersions
		}
		r := kmsg.RequestForKey(k.ApiKey)
		r.SetVersion(k.MaxVersion)
		if f, ok := r.(*kmsg.FetchRequest); ok {
			f.ReplicaID = -1
		}
		if p, ok := r.(*kmsg.ProduceRequest); ok {
			p.Acks = -1
		}
		if _, err := cl.SeedBrokers()[0].Request(ctx, r); err != nil {
			t.Errorf("%s v%d: %v", kmsg.NameForKey(k.ApiKey), k.MaxVersion, err)
		}
	}
}

var _ = x509.NewCertPool

// TestACLClusterAPIs checks the cluster-only APIs (advertised only in
// cluster mode, so on a one-voter cluster): followers need ClusterAction,
// consumers Describe on the topic, leader elections and reassignments
// Alter (list: Describe) on the Cluster.
func TestACLClusterAPIs(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctrl := l.Addr().String()
	l.Close()
	e := startSecure(t, t.TempDir(), broker.WithNodeID(1), broker.WithControllerQuorum(map[int32]string{1: ctrl}))
	e.setUser(t, "bob", "bobpw", auth.ScramSHA512)
	ctx := context.Background()
	adm := kadm.NewClient(e.admin(t))
	for _, tp := range []string{"mine", "theirs"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, tp); err != nil {
			t.Fatal(err)
		}
	}
	createACLs(t, adm, kadm.NewACLs().Allow("User:bob").Topics("mine").Operations(kadm.OpRead, kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral))
	bob := e.client(t, "CLIENT", kgo.DialTLSConfig(e.clientTLS(nil)), kgo.SASL(scram512("bob", "bobpw")), kgo.RequestRetries(0))
	req := func(r kmsg.Request) kmsg.Response {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		resp, err := bob.SeedBrokers()[0].Request(ctx, r)
		if err != nil {
			t.Fatalf("%s: %v", kmsg.NameForKey(r.Key()), err)
		}
		return resp
	}
	for _, tc := range []struct {
		name string
		do   func() int16
		want *kerr.Error
	}{
		{"OffsetForLeaderEpoch other topic", func() int16 {
			r := kmsg.NewPtrOffsetForLeaderEpochRequest()
			r.Version, r.ReplicaID = 3, -1
			tp := kmsg.NewOffsetForLeaderEpochRequestTopic()
			tp.Topic = "theirs"
			tp.Partitions = []kmsg.OffsetForLeaderEpochRequestTopicPartition{kmsg.NewOffsetForLeaderEpochRequestTopicPartition()}
			r.Topics = append(r.Topics, tp)
			return req(r).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0].ErrorCode
		}, kerr.TopicAuthorizationFailed},
		{"OffsetForLeaderEpoch as a follower", func() int16 {
			r := kmsg.NewPtrOffsetForLeaderEpochRequest()
			r.Version, r.ReplicaID = 3, 7
			tp := kmsg.NewOffsetForLeaderEpochRequestTopic()
			tp.Topic = "mine"
			tp.Partitions = []kmsg.OffsetForLeaderEpochRequestTopicPartition{kmsg.NewOffsetForLeaderEpochRequestTopicPartition()}
			r.Topics = append(r.Topics, tp)
			return req(r).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0].ErrorCode
		}, kerr.ClusterAuthorizationFailed},
		{"ElectLeaders", func() int16 {
			r := kmsg.NewPtrElectLeadersRequest()
			r.Version = 1
			tp := kmsg.NewElectLeadersRequestTopic()
			tp.Topic, tp.Partitions = "mine", []int32{0}
			r.Topics = append(r.Topics, tp)
			return req(r).(*kmsg.ElectLeadersResponse).ErrorCode
		}, kerr.ClusterAuthorizationFailed},
		{"AlterPartitionReassignments", func() int16 {
			return req(kmsg.NewPtrAlterPartitionAssignmentsRequest()).(*kmsg.AlterPartitionAssignmentsResponse).ErrorCode
		}, kerr.ClusterAuthorizationFailed},
		{"ListPartitionReassignments", func() int16 {
			return req(kmsg.NewPtrListPartitionReassignmentsRequest()).(*kmsg.ListPartitionReassignmentsResponse).ErrorCode
		}, kerr.ClusterAuthorizationFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.do(); got != tc.want.Code {
				t.Errorf("error code %d (%v), want %s", got, kerr.ErrorForCode(got), tc.want.Message)
			}
		})
	}
}
