package broker

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/auth"
)

// securityAPIs are the SASL, ACL and SCRAM-credential APIs (listener.go,
// sasl.go, acl.go); supportedAPIs lists the rest.
func securityAPIs() []apiRange {
	return []apiRange{
		{17, 0, 1}, // SaslHandshake (librdkafka needs v0 advertised; a v0 handshake, whose unframed tokens are not supported, gets UNSUPPORTED_VERSION)
		{29, 1, 3}, // DescribeAcls
		{30, 1, 3}, // CreateAcls
		{31, 1, 3}, // DeleteAcls
		{36, 0, 2}, // SaslAuthenticate
		{50, 0, 0}, // DescribeUserScramCredentials
		{51, 0, 0}, // AlterUserScramCredentials
	}
}

// allAPIs is everything ApiVersions advertises and decodeRequest accepts.
func allAPIs() []apiRange { return append(supportedAPIs(), securityAPIs()...) }

func aclFilterFrom(rt kmsg.ACLResourceType, name *string, pt kmsg.ACLResourcePatternType, principal, host *string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType, version int16) auth.Filter {
	f := auth.Filter{
		ResourceType: auth.ResourceType(rt),
		PatternType:  auth.PatternType(pt),
		Operation:    auth.Operation(op),
		Permission:   auth.Permission(perm),
	}
	if version == 0 {
		f.PatternType = auth.PatternLiteral
	}
	if name != nil {
		f.ResourceName = *name
	}
	if principal != nil {
		f.Principal = *principal
	}
	if host != nil {
		f.Host = *host
	}
	return f
}

func validFilter(f auth.Filter) error {
	switch {
	case f.ResourceType < auth.ResourceAny || f.ResourceType > auth.ResourceTransactionalID:
		return fmt.Errorf("unknown resource type %d", f.ResourceType)
	case f.PatternType < auth.PatternAny || f.PatternType > auth.PatternPrefixed:
		return fmt.Errorf("unknown pattern type %d", f.PatternType)
	case f.Operation < auth.OpAny || f.Operation > auth.OpIdempotentWrite:
		return fmt.Errorf("unknown operation %d", f.Operation)
	case f.Permission < auth.PermissionAny || f.Permission > auth.PermissionAllow:
		return fmt.Errorf("unknown permission type %d", f.Permission)
	}
	return nil
}

func (b *Broker) handleDescribeACLs(a authorizer, req *kmsg.DescribeACLsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	if b.sec.acls == nil {
		resp.ErrorCode, resp.ErrorMessage = kerr.SecurityDisabled.Code, kmsg.StringPtr("No authorizer is configured on the broker")
		return resp
	}
	if !a.cluster(auth.OpDescribe) {
		resp.ErrorCode = errClusterAuth
		return resp
	}
	f := aclFilterFrom(req.ResourceType, req.ResourceName, req.ResourcePatternType, req.Principal, req.Host, req.Operation, req.PermissionType, req.Version)
	if err := validFilter(f); err != nil {
		resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
		return resp
	}
	type key struct {
		rt   auth.ResourceType
		name string
		pt   auth.PatternType
	}
	idx := map[key]int{}
	for _, acl := range b.sec.acls.Describe(f) {
		k := key{acl.ResourceType, acl.ResourceName, acl.PatternType}
		i, ok := idx[k]
		if !ok {
			r := kmsg.NewDescribeACLsResponseResource()
			r.ResourceType, r.ResourceName, r.ResourcePatternType = kmsg.ACLResourceType(k.rt), k.name, kmsg.ACLResourcePatternType(k.pt)
			resp.Resources = append(resp.Resources, r)
			i = len(resp.Resources) - 1
			idx[k] = i
		}
		e := kmsg.NewDescribeACLsResponseResourceACL()
		e.Principal, e.Host = acl.Principal, acl.Host
		e.Operation, e.PermissionType = kmsg.ACLOperation(acl.Operation), kmsg.ACLPermissionType(acl.Permission)
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, e)
	}
	return resp
}

func (b *Broker) handleCreateACLs(a authorizer, req *kmsg.CreateACLsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	res := func(code int16, msg string) kmsg.CreateACLsResponseResult {
		r := kmsg.NewCreateACLsResponseResult()
		r.ErrorCode = code
		if msg != "" {
			r.ErrorMessage = kmsg.StringPtr(msg)
		}
		return r
	}
	for _, c := range req.Creations {
		switch {
		case b.sec.acls == nil:
			resp.Results = append(resp.Results, res(kerr.SecurityDisabled.Code, "No authorizer is configured on the broker"))
			continue
		case !a.cluster(auth.OpAlter):
			resp.Results = append(resp.Results, res(errClusterAuth, ""))
			continue
		}
		acl := auth.ACL{
			ResourceType: auth.ResourceType(c.ResourceType), ResourceName: c.ResourceName,
			PatternType: auth.PatternType(c.ResourcePatternType), Principal: c.Principal, Host: c.Host,
			Operation: auth.Operation(c.Operation), Permission: auth.Permission(c.PermissionType),
		}
		if req.Version == 0 {
			acl.PatternType = auth.PatternLiteral
		}
		if err := acl.Validate(); err != nil {
			resp.Results = append(resp.Results, res(kerr.InvalidRequest.Code, err.Error()))
			continue
		}
		if err := b.sec.acls.Add(acl); err != nil {
			resp.Results = append(resp.Results, res(kerr.UnknownServerError.Code, err.Error()))
			continue
		}
		b.log.Info("ACL created", "by", a.principal, "acl", acl.String())
		resp.Results = append(resp.Results, res(0, ""))
	}
	return resp
}

func (b *Broker) handleDeleteACLs(a authorizer, req *kmsg.DeleteACLsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	code, msg := int16(0), ""
	switch {
	case b.sec.acls == nil:
		code, msg = kerr.SecurityDisabled.Code, "No authorizer is configured on the broker"
	case !a.cluster(auth.OpAlter):
		code = errClusterAuth
	}
	var filters []auth.Filter
	var pos []int
	for i, f := range req.Filters {
		r := kmsg.NewDeleteACLsResponseResult()
		r.ErrorCode = code
		if msg != "" {
			r.ErrorMessage = kmsg.StringPtr(msg)
		}
		resp.Results = append(resp.Results, r)
		if code != 0 {
			continue
		}
		af := aclFilterFrom(f.ResourceType, f.ResourceName, f.ResourcePatternType, f.Principal, f.Host, f.Operation, f.PermissionType, req.Version)
		if err := validFilter(af); err != nil {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
			continue
		}
		filters = append(filters, af)
		pos = append(pos, i)
	}
	if len(filters) == 0 {
		return resp
	}
	deleted, err := b.sec.acls.Delete(filters...)
	for j, i := range pos {
		if err != nil {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.UnknownServerError.Code, kmsg.StringPtr(err.Error())
			continue
		}
		for _, acl := range deleted[j] {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = kmsg.ACLResourceType(acl.ResourceType), acl.ResourceName, kmsg.ACLResourcePatternType(acl.PatternType)
			m.Principal, m.Host = acl.Principal, acl.Host
			m.Operation, m.PermissionType = kmsg.ACLOperation(acl.Operation), kmsg.ACLPermissionType(acl.Permission)
			resp.Results[i].MatchingACLs = append(resp.Results[i].MatchingACLs, m)
			b.log.Info("ACL deleted", "by", a.principal, "acl", acl.String())
		}
	}
	return resp
}

func (b *Broker) handleDescribeUserSCRAM(a authorizer, req *kmsg.DescribeUserSCRAMCredentialsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !a.cluster(auth.OpDescribe) {
		resp.ErrorCode = errClusterAuth
		return resp
	}
	creds := b.sec.creds
	add := func(user string, infos []auth.UserCredential) {
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = user
		if len(infos) == 0 {
			r.ErrorCode = kerr.ResourceNotFound.Code
			r.ErrorMessage = kmsg.StringPtr("Attempt to describe a user credential that does not exist: " + user)
		}
		for _, in := range infos {
			ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
			ci.Mechanism, ci.Iterations = int8(in.Mechanism), int32(in.Iterations)
			r.CredentialInfos = append(r.CredentialInfos, ci)
		}
		resp.Results = append(resp.Results, r)
	}
	if len(req.Users) == 0 {
		byUser := map[string][]auth.UserCredential{}
		var order []string
		for _, c := range creds.Describe() {
			if byUser[c.User] == nil {
				order = append(order, c.User)
			}
			byUser[c.User] = append(byUser[c.User], c)
		}
		for _, u := range order {
			add(u, byUser[u])
		}
		return resp
	}
	seen := map[string]bool{}
	for _, u := range req.Users {
		if seen[u.Name] {
			r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
			r.User, r.ErrorCode = u.Name, kerr.DuplicateResource.Code
			resp.Results = append(resp.Results, r)
			continue
		}
		seen[u.Name] = true
		add(u.Name, creds.Describe(u.Name))
	}
	return resp
}

func (b *Broker) handleAlterUserSCRAM(a authorizer, req *kmsg.AlterUserSCRAMCredentialsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	allowed := a.cluster(auth.OpAlter)
	result := func(user string, code int16, msg string) {
		r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		r.User, r.ErrorCode = user, code
		if msg != "" {
			r.ErrorMessage = kmsg.StringPtr(msg)
		}
		resp.Results = append(resp.Results, r)
	}
	// Kafka rejects a request that names the same user and mechanism twice.
	type um struct {
		user string
		mech int8
	}
	count := map[um]int{}
	for _, d := range req.Deletions {
		count[um{d.Name, d.Mechanism}]++
	}
	for _, u := range req.Upsertions {
		count[um{u.Name, u.Mechanism}]++
	}
	for _, d := range req.Deletions {
		m := auth.Mechanism(d.Mechanism)
		switch {
		case !allowed:
			result(d.Name, errClusterAuth, "")
		case d.Name == "":
			result(d.Name, kerr.UnacceptableCredential.Code, "Username must not be empty")
		case count[um{d.Name, d.Mechanism}] > 1:
			result(d.Name, kerr.DuplicateResource.Code, "A user credential cannot be altered twice in the same request")
		case !m.Valid():
			result(d.Name, kerr.UnsupportedSaslMechanism.Code, fmt.Sprintf("Unknown SCRAM mechanism %d", d.Mechanism))
		default:
			if err := b.sec.creds.Delete(d.Name, m); errors.Is(err, auth.ErrNoCredential) {
				result(d.Name, kerr.ResourceNotFound.Code, "Attempt to delete a user credential that does not exist")
			} else if err != nil {
				result(d.Name, kerr.UnknownServerError.Code, err.Error())
			} else {
				b.log.Info("SCRAM credential deleted", "by", a.principal, "user", d.Name, "mechanism", m.String())
				result(d.Name, 0, "")
			}
		}
	}
	for _, u := range req.Upsertions {
		m := auth.Mechanism(u.Mechanism)
		switch {
		case !allowed:
			result(u.Name, errClusterAuth, "")
		case u.Name == "":
			result(u.Name, kerr.UnacceptableCredential.Code, "Username must not be empty")
		case count[um{u.Name, u.Mechanism}] > 1:
			result(u.Name, kerr.DuplicateResource.Code, "A user credential cannot be altered twice in the same request")
		case !m.Valid():
			result(u.Name, kerr.UnsupportedSaslMechanism.Code, fmt.Sprintf("Unknown SCRAM mechanism %d", u.Mechanism))
		case u.Iterations < auth.MinIterations || u.Iterations > auth.MaxIterations:
			result(u.Name, kerr.UnacceptableCredential.Code, fmt.Sprintf("Iterations %d must be between %d and %d", u.Iterations, auth.MinIterations, auth.MaxIterations))
		case len(u.Salt) == 0 || len(u.SaltedPassword) != len(m.H(nil)):
			result(u.Name, kerr.UnacceptableCredential.Code, "Salt must be non-empty and the salted password must be one hash long")
		default:
			cred := m.CredentialFromSalted(u.Salt, u.SaltedPassword, int(u.Iterations))
			if err := b.sec.creds.Set(u.Name, m, cred); err != nil {
				result(u.Name, kerr.UnknownServerError.Code, err.Error())
			} else {
				b.log.Info("SCRAM credential set", "by", a.principal, "user", u.Name, "mechanism", m.String())
				result(u.Name, 0, "")
			}
		}
	}
	return resp
}
