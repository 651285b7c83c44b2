package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const apiKeyApiVersions = 18

// apiRange is the version range the broker implements for one API key.
type apiRange struct{ key, min, max int16 }

// supportedAPIs is the honest list of implemented APIs and versions; it is
// both what ApiVersions advertises and what decodeRequest accepts.
//
// Produce starts at v0 (magic 0/1 message sets are up-converted to v2
// batches); Fetch starts at v0 too: v0-v3 answers are down-converted to
// magic 0 (v0-v1) or magic 1 (v2-v3) message sets (see downConvert).
func supportedAPIs() []apiRange {
	return []apiRange{
		{0, 0, 11}, // Produce
		{1, 0, 13}, // Fetch
		{2, 0, 7},  // ListOffsets
		{3, 0, 12}, // Metadata
		{8, 0, 8},  // OffsetCommit
		{9, 0, 8},  // OffsetFetch
		{10, 0, 4}, // FindCoordinator
		{11, 0, 9}, // JoinGroup
		{12, 0, 4}, // Heartbeat
		{13, 0, 5}, // LeaveGroup
		{14, 0, 5}, // SyncGroup
		{15, 0, 5}, // DescribeGroups
		{16, 0, 5}, // ListGroups
		{18, 0, 3}, // ApiVersions
		{19, 0, 7}, // CreateTopics
		{20, 0, 6}, // DeleteTopics
		{21, 0, 2}, // DeleteRecords
		{22, 0, 4}, // InitProducerId
		{23, 0, 4}, // OffsetForLeaderEpoch (advertised in cluster mode only)
		{32, 0, 4}, // DescribeConfigs
		{33, 0, 2}, // AlterConfigs
		{35, 0, 4}, // DescribeLogDirs
		{37, 0, 3}, // CreatePartitions
		{42, 0, 2}, // DeleteGroups
		{43, 0, 2}, // ElectLeaders (advertised in cluster mode only)
		{44, 0, 1}, // IncrementalAlterConfigs
		{45, 0, 1}, // AlterPartitionReassignments (advertised in cluster mode only)
		{46, 0, 0}, // ListPartitionReassignments (advertised in cluster mode only)
		{47, 0, 0}, // OffsetDelete
		{60, 0, 1}, // DescribeCluster
	}
}

// supportedVersions returns the implemented range for key.
func supportedVersions(key int16) (min, max int16, ok bool) {
	for _, a := range allAPIs() {
		if a.key == key {
			return a.min, a.max, true
		}
	}
	return 0, 0, false
}

func (b *Broker) handleApiVersions(r *request, req *kmsg.ApiVersionsRequest) kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	if req == nil {
		// Unsupported ApiVersions version: answer in v0 with the error and
		// our list so the client can retry with a version we know.
		resp.Version = 0
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		r.version = 0
	} else {
		resp.Version = req.Version
	}
	for _, a := range allAPIs() {
		if b.cl == nil && clusterOnlyAPI(a.key) {
			continue
		}
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.min, a.max
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	return resp
}
