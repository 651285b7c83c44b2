package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	blog "github.com/sluicehq/sluice/broker/log"
)

// ResourceType is a Kafka ACL resource type; values are the wire codes.
type ResourceType int8

// Resource types (Kafka's ResourceType codes).
const (
	ResourceAny             ResourceType = 1 // filters only
	ResourceTopic           ResourceType = 2
	ResourceGroup           ResourceType = 3
	ResourceCluster         ResourceType = 4
	ResourceTransactionalID ResourceType = 5
)

// ClusterName is the name of the single Cluster resource.
const ClusterName = "kafka-cluster"

// PatternType is a resource pattern type; values are the wire codes.
type PatternType int8

// Pattern types (Kafka's PatternType codes).
const (
	PatternAny      PatternType = 1 // filters only
	PatternMatch    PatternType = 2 // filters only: literal, wildcard and prefixed matches
	PatternLiteral  PatternType = 3
	PatternPrefixed PatternType = 4
)

// Operation is an ACL operation; values are the wire codes.
type Operation int8

// Operations (Kafka's AclOperation codes).
const (
	OpAny             Operation = 1 // filters only
	OpAll             Operation = 2
	OpRead            Operation = 3
	OpWrite           Operation = 4
	OpCreate          Operation = 5
	OpDelete          Operation = 6
	OpAlter           Operation = 7
	OpDescribe        Operation = 8
	OpClusterAction   Operation = 9
	OpDescribeConfigs Operation = 10
	OpAlterConfigs    Operation = 11
	OpIdempotentWrite Operation = 12
)

// Permission is ALLOW or DENY; values are the wire codes.
type Permission int8

// Permissions (Kafka's AclPermissionType codes).
const (
	PermissionAny   Permission = 1 // filters only
	PermissionDeny  Permission = 2
	PermissionAllow Permission = 3
)

// Wildcard matches every resource name, principal or host.
const Wildcard = "*"

var resourceNames = map[ResourceType]string{ResourceAny: "Any", ResourceTopic: "Topic", ResourceGroup: "Group", ResourceCluster: "Cluster", ResourceTransactionalID: "TransactionalId"}
var patternNames = map[PatternType]string{PatternAny: "Any", PatternMatch: "Match", PatternLiteral: "Literal", PatternPrefixed: "Prefixed"}
var opNames = map[Operation]string{OpAny: "Any", OpAll: "All", OpRead: "Read", OpWrite: "Write", OpCreate: "Create", OpDelete: "Delete", OpAlter: "Alter", OpDescribe: "Describe", OpClusterAction: "ClusterAction", OpDescribeConfigs: "DescribeConfigs", OpAlterConfigs: "AlterConfigs", OpIdempotentWrite: "IdempotentWrite"}
var permNames = map[Permission]string{PermissionAny: "Any", PermissionDeny: "Deny", PermissionAllow: "Allow"}

// String returns Kafka's name of the resource type.
func (r ResourceType) String() string { return nameOr(resourceNames, r) }

// String returns Kafka's name of the pattern type.
func (p PatternType) String() string { return nameOr(patternNames, p) }

// String returns Kafka's name of the operation.
func (o Operation) String() string { return nameOr(opNames, o) }

// String returns Kafka's name of the permission.
func (p Permission) String() string { return nameOr(permNames, p) }

func nameOr[K ~int8](m map[K]string, k K) string {
	if s, ok := m[k]; ok {
		return s
	}
	return fmt.Sprintf("Unknown(%d)", int8(k))
}

func parseName[K ~int8](m map[K]string, what, s string) (K, error) {
	norm := strings.ReplaceAll(strings.ToLower(s), "_", "")
	for k, n := range m {
		if strings.ToLower(n) == norm {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown %s %q", what, s)
}

// ParseResourceType parses a resource type name (case-insensitive).
func ParseResourceType(s string) (ResourceType, error) {
	return parseName(resourceNames, "resource type", s)
}

// ParsePatternType parses a pattern type name (case-insensitive).
func ParsePatternType(s string) (PatternType, error) {
	return parseName(patternNames, "pattern type", s)
}

// ParseOperation parses an operation name (case-insensitive; "alter_configs" works).
func ParseOperation(s string) (Operation, error) { return parseName(opNames, "operation", s) }

// ParsePermission parses "allow" or "deny".
func ParsePermission(s string) (Permission, error) {
	return parseName(permNames, "permission", s)
}

// ACL is one access-control binding, as Kafka defines it.
type ACL struct {
	ResourceType ResourceType `json:"resource_type"`
	ResourceName string       `json:"resource_name"`
	PatternType  PatternType  `json:"pattern_type"`
	Principal    string       `json:"principal"`
	Host         string       `json:"host"`
	Operation    Operation    `json:"operation"`
	Permission   Permission   `json:"permission"`
}

// String renders the binding like kafka-acls does.
func (a ACL) String() string {
	return fmt.Sprintf("(principal=%s, host=%s, operation=%s, permissionType=%s) on %s:%s:%s",
		a.Principal, a.Host, a.Operation, a.Permission, a.ResourceType, a.PatternType, a.ResourceName)
}

// Validate checks that a is a concrete binding (no filter-only values).
func (a ACL) Validate() error {
	switch a.ResourceType {
	case ResourceTopic, ResourceGroup, ResourceCluster, ResourceTransactionalID:
	default:
		return fmt.Errorf("resource type %s is not valid in an ACL", a.ResourceType)
	}
	switch a.PatternType {
	case PatternLiteral, PatternPrefixed:
	default:
		return fmt.Errorf("pattern type %s is not valid in an ACL (want Literal or Prefixed)", a.PatternType)
	}
	if a.ResourceName == "" {
		return errors.New("resource name is empty")
	}
	if a.ResourceType == ResourceCluster && a.ResourceName != ClusterName {
		return fmt.Errorf("cluster resource name %q: must be %q", a.ResourceName, ClusterName)
	}
	if a.PatternType == PatternPrefixed && a.ResourceName == Wildcard {
		return errors.New("a prefixed pattern cannot be the wildcard \"*\"")
	}
	if _, ok := opNames[a.Operation]; !ok || a.Operation == OpAny {
		return fmt.Errorf("operation %s is not valid in an ACL", a.Operation)
	}
	if a.Permission != PermissionAllow && a.Permission != PermissionDeny {
		return fmt.Errorf("permission %s is not valid in an ACL (want Allow or Deny)", a.Permission)
	}
	if _, _, ok := strings.Cut(a.Principal, ":"); !ok && a.Principal != Wildcard {
		return fmt.Errorf("principal %q: want Type:name, e.g. User:alice", a.Principal)
	}
	if a.Host == "" {
		return errors.New("host is empty (use \"*\" for any host)")
	}
	return nil
}

// Filter selects ACLs (DescribeAcls, DeleteAcls). Empty strings match
// anything, like a null filter field.
type Filter struct {
	ResourceType ResourceType
	ResourceName string // "" = any
	PatternType  PatternType
	Principal    string // "" = any
	Host         string // "" = any
	Operation    Operation
	Permission   Permission
}

// Matches reports whether a is selected by f, with Kafka's semantics:
// pattern type MATCH selects literal ACLs on the name or "*" and prefixed
// ACLs whose prefix starts the name.
func (f Filter) Matches(a ACL) bool {
	if f.ResourceType != ResourceAny && f.ResourceType != a.ResourceType {
		return false
	}
	switch f.PatternType {
	case PatternAny:
		if f.ResourceName != "" && f.ResourceName != a.ResourceName {
			return false
		}
	case PatternMatch:
		if f.ResourceName != "" && !patternMatches(a, f.ResourceName) {
			return false
		}
	default:
		if f.PatternType != a.PatternType || (f.ResourceName != "" && f.ResourceName != a.ResourceName) {
			return false
		}
	}
	if f.Principal != "" && f.Principal != a.Principal {
		return false
	}
	if f.Host != "" && f.Host != a.Host {
		return false
	}
	if f.Operation != OpAny && f.Operation != a.Operation {
		return false
	}
	if f.Permission != PermissionAny && f.Permission != a.Permission {
		return false
	}
	return true
}

// patternMatches reports whether a's resource pattern covers name.
func patternMatches(a ACL, name string) bool {
	switch a.PatternType {
	case PatternLiteral:
		return a.ResourceName == name || a.ResourceName == Wildcard
	case PatternPrefixed:
		return strings.HasPrefix(name, a.ResourceName)
	}
	return false
}

// impliedBy lists, per operation, the operations whose ALLOW also allows
// it (Kafka: Describe is implied by Read, Write, Delete and Alter;
// DescribeConfigs by AlterConfigs).
var impliedBy = map[Operation][]Operation{
	OpDescribe:        {OpRead, OpWrite, OpDelete, OpAlter},
	OpDescribeConfigs: {OpAlterConfigs},
}

// AuthorizerConfig holds the authorizer's settings.
type AuthorizerConfig struct {
	// SuperUsers are principals allowed everything (super.users).
	SuperUsers []string
	// AllowIfNoACL allows access to a resource no ACL matches
	// (allow.everyone.if.no.acl.found, default false).
	AllowIfNoACL bool
}

// ACLs is the ACL store and authorizer. It is safe for concurrent use;
// changes are persisted before they take effect.
type ACLs struct {
	path string
	rep  ACLReplicator // nil: changes go to path
	cfg  AuthorizerConfig
	mu   sync.RWMutex
	acls []ACL
}

type aclFile struct {
	ACLs []ACL `json:"acls"`
}

// OpenACLs loads the ACLs from path (a missing file is empty; "" keeps
// them in memory).
func OpenACLs(path string, cfg AuthorizerConfig) (*ACLs, error) {
	s := &ACLs{path: path, cfg: cfg}
	if path == "" {
		return s, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("acls: %w", err)
	}
	var f aclFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("acls %s: %w", path, err)
	}
	for i, a := range f.ACLs {
		if err := a.Validate(); err != nil {
			return nil, fmt.Errorf("acls %s: entry %d: %w", path, i, err)
		}
	}
	s.acls = f.ACLs
	return s, nil
}

// Add stores bindings (duplicates are kept once). All are validated
// first; on an error nothing is added.
func (s *ACLs) Add(acls ...ACL) error {
	for _, a := range acls {
		if err := a.Validate(); err != nil {
			return fmt.Errorf("%s: %w", a, err)
		}
	}
	if s.rep != nil {
		return s.rep.AddACLs(acls)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := slices.Clone(s.acls)
	for _, a := range acls {
		if !slices.Contains(next, a) {
			next = append(next, a)
		}
	}
	return s.commitLocked(next)
}

// Delete removes every ACL matching any filter and returns, per filter,
// the bindings it removed.
func (s *ACLs) Delete(filters ...Filter) ([][]ACL, error) {
	if s.rep != nil {
		return s.deleteReplicated(filters)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]ACL, len(filters))
	var next []ACL
	for _, a := range s.acls {
		hit := false
		for i, f := range filters {
			if f.Matches(a) {
				out[i] = append(out[i], a)
				hit = true
			}
		}
		if !hit {
			next = append(next, a)
		}
	}
	if len(next) == len(s.acls) {
		return out, nil
	}
	return out, s.commitLocked(next)
}

// deleteReplicated deletes the bindings the filters match in the current
// (replicated) state and reports, per filter, those the replicated delete
// actually removed.
func (s *ACLs) deleteReplicated(filters []Filter) ([][]ACL, error) {
	var match []ACL
	for _, a := range s.List() {
		for _, f := range filters {
			if f.Matches(a) {
				match = append(match, a)
				break
			}
		}
	}
	out := make([][]ACL, len(filters))
	if len(match) == 0 {
		return out, nil
	}
	removed, err := s.rep.DeleteACLs(match)
	if err != nil {
		return out, err
	}
	for _, a := range removed {
		for i, f := range filters {
			if f.Matches(a) {
				out[i] = append(out[i], a)
			}
		}
	}
	return out, nil
}

// Describe returns the ACLs matching f.
func (s *ACLs) Describe(f Filter) []ACL {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []ACL
	for _, a := range s.acls {
		if f.Matches(a) {
			out = append(out, a)
		}
	}
	return out
}

// IsSuperUser reports whether principal is in super.users.
func (s *ACLs) IsSuperUser(principal string) bool {
	return slices.Contains(s.cfg.SuperUsers, principal)
}

// Authorize reports whether principal connecting from host may perform op
// on the named resource, by Kafka's rules: super users may do anything; a
// matching DENY wins over any ALLOW; with no ACL on the resource at all the
// answer is AllowIfNoACL; otherwise an ALLOW for op (or All, or an
// operation implying op) is needed.
func (s *ACLs) Authorize(principal, host string, op Operation, rt ResourceType, name string) bool {
	if s.IsSuperUser(principal) {
		return true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	any := false
	allowed := false
	for _, a := range s.acls {
		if a.ResourceType != rt || !patternMatches(a, name) {
			continue
		}
		any = true
		if a.Principal != principal && a.Principal != "User:*" && a.Principal != Wildcard {
			continue
		}
		if a.Host != Wildcard && a.Host != host {
			continue
		}
		if a.Permission == PermissionDeny {
			if a.Operation == op || a.Operation == OpAll {
				return false
			}
			continue
		}
		if a.Operation == op || a.Operation == OpAll || slices.Contains(impliedBy[op], a.Operation) {
			allowed = true
		}
	}
	if !any {
		return s.cfg.AllowIfNoACL
	}
	return allowed
}

// AuthorizeAny reports whether principal may perform op on at least one
// resource of type rt (Kafka's authorizeByResourceType, used for
// idempotent produce without IdempotentWrite on the cluster).
func (s *ACLs) AuthorizeAny(principal, host string, op Operation, rt ResourceType) bool {
	if s.IsSuperUser(principal) {
		return true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, a := range s.acls {
		if a.ResourceType != rt || a.Permission != PermissionAllow {
			continue
		}
		if a.Principal != principal && a.Principal != "User:*" && a.Principal != Wildcard {
			continue
		}
		if a.Host != Wildcard && a.Host != host {
			continue
		}
		if a.Operation != op && a.Operation != OpAll {
			continue
		}
		// A literal ALLOW is usable unless a DENY on the same name blocks it.
		if a.PatternType == PatternLiteral && a.ResourceName != Wildcard {
			if s.deniedLocked(principal, host, op, rt, a.ResourceName) {
				continue
			}
		}
		return true
	}
	return false
}

func (s *ACLs) deniedLocked(principal, host string, op Operation, rt ResourceType, name string) bool {
	for _, a := range s.acls {
		if a.ResourceType == rt && a.Permission == PermissionDeny && patternMatches(a, name) &&
			(a.Principal == principal || a.Principal == "User:*" || a.Principal == Wildcard) &&
			(a.Host == Wildcard || a.Host == host) && (a.Operation == op || a.Operation == OpAll) {
			return true
		}
	}
	return false
}

func (s *ACLs) commitLocked(next []ACL) error {
	if s.path != "" {
		data, err := json.MarshalIndent(aclFile{ACLs: next}, "", "  ")
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
			return err
		}
		if err := blog.WriteFileAtomic(s.path, data); err != nil {
			return fmt.Errorf("persist acls: %w", err)
		}
	}
	s.acls = next
	return nil
}
