package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker/auth"
	"github.com/sluicehq/sluice/runtime/kafkasec"
	"github.com/sluicehq/sluice/runtime/worker"
)

// kafkaAdminFlags connect a CLI verb to a broker, like Kafka's tools:
// --bootstrap-server plus a --command-config properties file holding the
// client security settings (security.protocol, ssl.*, sasl.*).
type kafkaAdminFlags struct {
	bootstrap *string
	config    *string
}

func addKafkaAdminFlags(fs *flag.FlagSet) *kafkaAdminFlags {
	return &kafkaAdminFlags{
		bootstrap: fs.String("bootstrap-server", envOr("SLUICE_BOOTSTRAP_SERVER", "127.0.0.1:9092"), "Kafka bootstrap servers, comma-separated (env SLUICE_BOOTSTRAP_SERVER)"),
		config:    fs.String("command-config", envOr("SLUICE_COMMAND_CONFIG", ""), "properties file with client security settings: security.protocol, ssl.truststore.location, sasl.mechanism, sasl.jaas.config... (env SLUICE_COMMAND_CONFIG)"),
	}
}

func (f *kafkaAdminFlags) client() (*kadm.Client, func(), error) {
	props := map[string]string{}
	if *f.config != "" {
		p, err := worker.LoadProperties(*f.config)
		if err != nil {
			return nil, nil, &exitError{code: 2, err: fmt.Errorf("--command-config: %w", err)}
		}
		props = p
	}
	sec, err := kafkasec.WorkerConfig(props)
	if err != nil {
		return nil, nil, &exitError{code: 2, err: fmt.Errorf("--command-config: %w", err)}
	}
	cl, err := kgo.NewClient(append(sec.Options(), kgo.SeedBrokers(splitComma(*f.bootstrap)...), kgo.RequestRetries(1), kgo.RetryTimeout(10*time.Second))...)
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl.Close, nil
}

func runUser(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const summary = "Manage SASL/SCRAM users (salted credentials; passwords are never stored).\n" +
		"  sluice user add NAME --password PW [--mechanism SCRAM-SHA-512] [--iterations 8192]\n" +
		"  sluice user delete NAME [--mechanism SCRAM-SHA-512]\n" +
		"  sluice user list [NAME...]\n" +
		"Online through a running broker (--bootstrap-server, --command-config; needs Alter/Describe on\n" +
		"the Cluster), or offline with --data-dir on a stopped broker's data directory (to create the first user)."
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs := newFlagSet("user", summary, stderr)
		fs.Usage()
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return &exitError{code: 2, err: errors.New("want a verb: add, delete or list")}
	}
	verb := args[0]
	fs := newFlagSet("user "+verb, summary, stderr)
	kf := addKafkaAdminFlags(fs)
	dataDir := fs.String("data-dir", "", "edit the credential store of a stopped broker's data directory instead of calling a broker")
	mech := fs.String("mechanism", "SCRAM-SHA-512", "SCRAM-SHA-256 or SCRAM-SHA-512")
	pass := fs.String("password", "", "the user's password (add)")
	iters := fs.Int("iterations", 8192, "PBKDF2 iterations (4096-16384)")
	names, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	m, err := auth.ParseMechanism(*mech)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--mechanism: %w", err)}
	}
	switch verb {
	case "add", "delete":
		if len(names) != 1 {
			return &exitError{code: 2, err: fmt.Errorf("user %s: want one user name", verb)}
		}
		if verb == "add" && *pass == "" {
			return &exitError{code: 2, err: errors.New("user add: --password is required")}
		}
	case "list":
	default:
		return &exitError{code: 2, err: fmt.Errorf("unknown verb %q (want add, delete or list)", verb)}
	}
	if *dataDir != "" {
		return userOffline(verb, names, m, *pass, *iters, *dataDir, stdout)
	}
	adm, done, err := kf.client()
	if err != nil {
		return err
	}
	defer done()
	switch verb {
	case "add":
		res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: names[0], Mechanism: kadm.ScramMechanism(m), Iterations: int32(*iters), Password: *pass}})
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s: %s credential set\n", names[0], m)
	case "delete":
		res, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: names[0], Mechanism: kadm.ScramMechanism(m)}}, nil)
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s: %s credential deleted\n", names[0], m)
	case "list":
		res, err := adm.DescribeUserSCRAMs(ctx, names...)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tMECHANISM\tITERATIONS")
		for _, u := range res.Sorted() {
			if u.Err != nil {
				fmt.Fprintf(tw, "%s\t%v\t\n", u.User, u.Err)
				continue
			}
			for _, ci := range u.CredInfos {
				fmt.Fprintf(tw, "%s\t%s\t%d\n", u.User, auth.Mechanism(ci.Mechanism), ci.Iterations)
			}
		}
		return tw.Flush()
	}
	return nil
}

// brokerCredentialsPath is where a broker data directory keeps SCRAM
// credentials (broker.Broker's credentialsPath).
func brokerCredentialsPath(dataDir string) string {
	return filepath.Join(dataDir, "security", "scram-credentials.json")
}

func userOffline(verb string, names []string, m auth.Mechanism, pass string, iters int, dataDir string, stdout io.Writer) error {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	unlock, err := lockDataDir(dataDir)
	if err != nil {
		return fmt.Errorf("%w (stop the broker, or manage users through it)", err)
	}
	defer unlock()
	store, err := auth.OpenCredentials(brokerCredentialsPath(dataDir))
	if err != nil {
		return err
	}
	switch verb {
	case "add":
		cred, err := m.NewCredential(pass, iters)
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("--iterations: %w", err)}
		}
		if err := store.Set(names[0], m, cred); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s: %s credential set in %s\n", names[0], m, dataDir)
	case "delete":
		if err := store.Delete(names[0], m); err != nil {
			return fmt.Errorf("user %s: %w", names[0], err)
		}
		fmt.Fprintf(stdout, "user %s: %s credential deleted\n", names[0], m)
	case "list":
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tMECHANISM\tITERATIONS")
		for _, c := range store.Describe(names...) {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", c.User, c.Mechanism, c.Iterations)
		}
		return tw.Flush()
	}
	return nil
}

func runACL(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const summary = "Manage Kafka ACLs on a broker run with --authorizer (like kafka-acls).\n" +
		"  sluice acl add --allow-principal User:bob --operation Read --topic orders [--group g] [--resource-pattern-type prefixed]\n" +
		"  sluice acl list [--topic T] [--group G] [--principal P]\n" +
		"  sluice acl remove --allow-principal User:bob --operation Read --topic orders\n" +
		"Resources: --topic, --group, --cluster, --transactional-id (repeatable); operations: Read, Write, Create,\n" +
		"Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, All."
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs := newFlagSet("acl", summary, stderr)
		fs.Usage()
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return &exitError{code: 2, err: errors.New("want a verb: add, list or remove")}
	}
	verb := args[0]
	fs := newFlagSet("acl "+verb, summary, stderr)
	kf := addKafkaAdminFlags(fs)
	var allow, deny, hosts, ops, topics, groups, txns multiFlag
	fs.Var(&allow, "allow-principal", "principal to allow, e.g. User:bob (repeatable)")
	fs.Var(&deny, "deny-principal", "principal to deny (repeatable)")
	fs.Var(&hosts, "host", "client host the ACL applies to (repeatable; default *)")
	fs.Var(&ops, "operation", "operation (repeatable)")
	fs.Var(&topics, "topic", "topic resource (repeatable; * for all)")
	fs.Var(&groups, "group", "consumer group resource (repeatable)")
	fs.Var(&txns, "transactional-id", "transactional id resource (repeatable)")
	cluster := fs.Bool("cluster", false, "the cluster resource")
	pattern := fs.String("resource-pattern-type", "literal", "literal or prefixed (list and remove also take any and match)")
	principal := fs.String("principal", "", "list: only ACLs of this principal")
	if rest, err := parseArgs(fs, args[1:]); err != nil {
		return err
	} else if len(rest) > 0 {
		return &exitError{code: 2, err: fmt.Errorf("unexpected arguments %q", rest)}
	}
	pt, err := auth.ParsePatternType(*pattern)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--resource-pattern-type: %w", err)}
	}
	b := kadm.NewACLs().ResourcePatternType(kadm.ACLPattern(pt))
	if len(topics) > 0 {
		b = b.Topics(topics...)
	}
	if len(groups) > 0 {
		b = b.Groups(groups...)
	}
	if len(txns) > 0 {
		b = b.TransactionalIDs(txns...)
	}
	if *cluster {
		b = b.Clusters()
	}
	var kops []kadm.ACLOperation
	for _, o := range ops {
		op, err := auth.ParseOperation(o)
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("--operation: %w", err)}
		}
		kops = append(kops, kadm.ACLOperation(op))
	}
	if len(hosts) == 0 {
		hosts = multiFlag{"*"}
	}
	adm, done, err := kf.client()
	if err != nil {
		return err
	}
	defer done()
	switch verb {
	case "add", "remove":
		if len(allow)+len(deny) == 0 || len(kops) == 0 || len(topics)+len(groups)+len(txns) == 0 && !*cluster {
			return &exitError{code: 2, err: fmt.Errorf("acl %s: want --allow-principal or --deny-principal, --operation and a resource", verb)}
		}
		if len(allow) > 0 {
			b = b.Allow(allow...).AllowHosts(hosts...)
		}
		if len(deny) > 0 {
			b = b.Deny(deny...).DenyHosts(hosts...)
		}
		b = b.Operations(kops...)
		if verb == "add" {
			res, err := adm.CreateACLs(ctx, b)
			if err != nil {
				return err
			}
			for _, r := range res {
				if r.Err != nil {
					return fmt.Errorf("%s %s on %s:%s: %w", r.Principal, r.Operation, r.Type, r.Name, r.Err)
				}
				fmt.Fprintf(stdout, "added: %s %s %s on %s:%s:%s from %s\n", r.Permission, r.Principal, r.Operation, r.Type, r.Pattern, r.Name, r.Host)
			}
			return nil
		}
		res, err := adm.DeleteACLs(ctx, b)
		if err != nil {
			return err
		}
		n := 0
		for _, r := range res {
			if r.Err != nil {
				return r.Err
			}
			for _, d := range r.Deleted {
				n++
				fmt.Fprintf(stdout, "removed: %s %s %s on %s:%s:%s from %s\n", d.Permission, d.Principal, d.Operation, d.Type, d.Pattern, d.Name, d.Host)
			}
		}
		if n == 0 {
			fmt.Fprintln(stdout, "no matching ACLs")
		}
		return nil
	case "list":
		if len(topics)+len(groups)+len(txns) == 0 && !*cluster {
			b = b.AnyResource()
		}
		if !flagSet(fs, "resource-pattern-type") {
			b = b.ResourcePatternType(kadm.ACLPatternAny)
		}
		if *principal != "" {
			b = b.Allow(*principal).Deny(*principal)
		} else {
			b = b.Allow().Deny()
		}
		b = b.AllowHosts().DenyHosts()
		if len(kops) == 0 {
			kops = []kadm.ACLOperation{kadm.OpAny}
		}
		b = b.Operations(kops...)
		res, err := adm.DescribeACLs(ctx, b)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PERMISSION\tPRINCIPAL\tHOST\tOPERATION\tRESOURCE\tPATTERN\tNAME")
		seen := map[string]bool{}
		for _, r := range res {
			if r.Err != nil {
				return r.Err
			}
			for _, d := range r.Described {
				line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", d.Permission, d.Principal, d.Host, d.Operation, d.Type, d.Pattern, d.Name)
				if !seen[line] {
					seen[line] = true
					fmt.Fprintln(tw, line)
				}
			}
		}
		return tw.Flush()
	}
	return &exitError{code: 2, err: fmt.Errorf("unknown verb %q (want add, list or remove)", verb)}
}

// envOr returns the environment variable k, or def when it is unset.
func envOr(k, def string) string {
	if v, ok := os.LookupEnv(k); ok {
		return v
	}
	return def
}
