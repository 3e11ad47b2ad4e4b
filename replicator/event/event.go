package event

import "encoding/json"

// Version is the event format version written in every record's "v" field.
const Version = 1

// Op is the kind of change a record carries.
type Op string

// The operations of format v1.
const (
	OpInsert    Op = "insert"
	OpUpdate    Op = "update"
	OpDelete    Op = "delete"
	OpDDL       Op = "ddl"
	OpHeartbeat Op = "heartbeat"
)

// Record is one Kafka record of format v1: one row change, or a control
// record (ddl, heartbeat). Field names are the contract; see doc.go.
type Record struct {
	V       int      `json:"v"`
	Cluster string   `json:"cluster"`
	Region  string   `json:"region"`
	Origin  string   `json:"origin"`
	GTID    string   `json:"gtid"`
	TS      int64    `json:"ts"`
	Seq     int      `json:"seq"`
	Last    bool     `json:"last"`
	Op      Op       `json:"op"`
	DB      string   `json:"db,omitempty"`
	Table   string   `json:"table,omitempty"`
	PK      []string `json:"pk"`
	// Before and After are row images keyed by column name, values encoded
	// per the type mapping in doc.go. Before is absent for inserts, After for deletes.
	Before map[string]json.RawMessage `json:"before,omitempty"`
	After  map[string]json.RawMessage `json:"after,omitempty"`
	SQL    string                     `json:"sql,omitempty"`
	// GTIDSet is additive to v1: on a transaction's last record it holds the
	// source GTID set after the transaction, which is all a restarting
	// replicator needs to resume.
	GTIDSet string `json:"gtid_set,omitempty"`
}
