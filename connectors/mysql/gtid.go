package mysql

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"
)

// Flavors, as in connector.class and source.connector.
const (
	flavorMySQL   = "mysql"
	flavorMariaDB = "mariadb"
)

// gtidSet tracks the set of completed transactions for the offset.
type gtidSet interface {
	// add records a completed transaction's GTID.
	add(gtid string) error
	// String renders the set in the server's syntax, keeping only sources
	// that pass keep.
	String(keep func(source string) bool) string
}

// newGTIDSet parses a GTID set of the flavor ("" is the empty set).
func newGTIDSet(flavor, s string) (gtidSet, error) {
	if flavor == flavorMariaDB {
		return parseMariaDBGTIDs(s)
	}
	set, err := gmysql.ParseMysqlGTIDSet(s)
	if err != nil {
		return nil, fmt.Errorf("mysql: GTID set %q: %w", s, err)
	}
	return &mysqlGTIDs{set: set.(*gmysql.MysqlGTIDSet)}, nil
}

type mysqlGTIDs struct{ set *gmysql.MysqlGTIDSet }

func (m *mysqlGTIDs) add(g string) error { return m.set.Update(g) }

func (m *mysqlGTIDs) String(keep func(string) bool) string {
	parts := strings.Split(m.set.String(), ",")
	out := parts[:0]
	for _, p := range parts {
		if p == "" {
			continue
		}
		uuid, _, _ := strings.Cut(p, ":")
		if keep == nil || keep(uuid) {
			out = append(out, p)
		}
	}
	return strings.Join(out, ",")
}

// mariaDBGTIDs keeps the latest GTID per replication domain, which is what
// gtid_binlog_pos and @slave_connect_state hold.
type mariaDBGTIDs struct{ byDomain map[uint32]gmysql.MariadbGTID }

func parseMariaDBGTIDs(s string) (*mariaDBGTIDs, error) {
	m := &mariaDBGTIDs{byDomain: map[uint32]gmysql.MariadbGTID{}}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if err := m.add(p); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *mariaDBGTIDs) add(g string) error {
	f := strings.Split(g, "-")
	if len(f) != 3 {
		return fmt.Errorf("mysql: MariaDB GTID %q is not domain-server-sequence", g)
	}
	d, e1 := strconv.ParseUint(f[0], 10, 32)
	s, e2 := strconv.ParseUint(f[1], 10, 32)
	n, e3 := strconv.ParseUint(f[2], 10, 64)
	if e1 != nil || e2 != nil || e3 != nil {
		return fmt.Errorf("mysql: MariaDB GTID %q is not domain-server-sequence", g)
	}
	m.byDomain[uint32(d)] = gmysql.MariadbGTID{DomainID: uint32(d), ServerID: uint32(s), SequenceNumber: n}
	return nil
}

func (m *mariaDBGTIDs) String(keep func(string) bool) string {
	ds := make([]int, 0, len(m.byDomain))
	for d := range m.byDomain {
		ds = append(ds, int(d))
	}
	sort.Ints(ds)
	var out []string
	for _, d := range ds {
		if keep != nil && !keep(strconv.Itoa(d)) {
			continue
		}
		g := m.byDomain[uint32(d)]
		out = append(out, fmt.Sprintf("%d-%d-%d", g.DomainID, g.ServerID, g.SequenceNumber))
	}
	return strings.Join(out, ",")
}

// binlogStatusStatement returns the statement reporting the current binlog
// file and position: SHOW MASTER STATUS was renamed SHOW BINLOG STATUS in
// MariaDB 10.5.2 and SHOW BINARY LOG STATUS in MySQL 8.2 (and removed in
// 8.4).
func binlogStatusStatement(flavor, version string) string {
	maj, min, patch := parseVersion(version)
	v := maj*10000 + min*100 + patch
	if flavor == flavorMariaDB {
		if v >= 100502 {
			return "SHOW BINLOG STATUS"
		}
		return "SHOW MASTER STATUS"
	}
	if v >= 80200 {
		return "SHOW BINARY LOG STATUS"
	}
	return "SHOW MASTER STATUS"
}

// gtidStatement returns the query for the server's executed GTID set: for
// MariaDB gtid_binlog_pos (the GTIDs in this server's own binlog, which is
// what a binlog stream from it resumes from), for MySQL gtid_executed.
func gtidStatement(flavor string) string {
	if flavor == flavorMariaDB {
		return "SELECT @@GLOBAL.gtid_binlog_pos"
	}
	return "SELECT @@GLOBAL.gtid_executed"
}

func parseVersion(v string) (maj, min, patch int) {
	v, _, _ = strings.Cut(v, "-")
	f := strings.Split(v, ".")
	get := func(i int) int {
		if i >= len(f) {
			return 0
		}
		n, _ := strconv.Atoi(strings.TrimFunc(f[i], func(r rune) bool { return r < '0' || r > '9' }))
		return n
	}
	return get(0), get(1), get(2)
}

// detectFlavor tells MariaDB from MySQL by the version string.
func detectFlavor(version string) string {
	if strings.Contains(strings.ToLower(version), "mariadb") {
		return flavorMariaDB
	}
	return flavorMySQL
}
