package grants

import (
	"fmt"
	"slices"

	"github.com/drc-dev/drc/internal/mysqlconn"
)

// Role is a drc role, or one side of one, as far as privileges go.
type Role string

// The roles whose privileges drc checks at start. Each needs exactly what
// Need lists for it, and README's grants table prints Need's statements.
const (
	Replicator      Role = "replicator"       // the source
	Applier         Role = "applier"          // the target
	BootstrapSource Role = "bootstrap-source" // the region copied from
	BootstrapTarget Role = "bootstrap-target" // the region copied into
	ReconcileSource Role = "reconcile-source"
	ReconcileTarget Role = "reconcile-target"
	IDGen           Role = "idgen" // the server holding its leases
	StatusSource    Role = "status-source"
	StatusTarget    Role = "status-target"
	// DR is what drc switchover, failover and failback need on each
	// region beyond the applier's privileges (they use its account).
	DR Role = "dr"
)

// Roles lists every role, in the order documentation shows them.
func Roles() []Role {
	return []Role{Replicator, Applier, BootstrapSource, BootstrapTarget, ReconcileSource, ReconcileTarget, IDGen, StatusSource, StatusTarget, DR}
}

// Options are what changes a role's privileges beyond its flavor.
type Options struct {
	// DDLKinds are the applier's applier.ddl_kinds (replicator.DDLKinds
	// names); bootstrap's target needs the table kind's.
	DDLKinds []string
	// Triggers is the applier's applier.triggers: stop reads the target's
	// triggers, which information_schema shows only with TRIGGER.
	Triggers string
	// Repair: reconcile --repair writes rows on the target.
	Repair bool
	// MetaDB is the database of drc's own tables when it is not drc_meta
	// (idgen.Config.Schema).
	MetaDB string
	// ReadOnly: the applier's target has read_only on (a DR standby), which
	// its account must write past.
	ReadOnly bool
}

// Flavor names as the config spells them (mysqlconn's flavors).
const (
	MariaDB = string(mysqlconn.MariaDB)
	MySQL   = string(mysqlconn.MySQL)
)

// Need returns the privileges role needs on a server of flavor.
func Need(role Role, flavor string, opt Options) ([]Privilege, error) {
	if flavor != MariaDB && flavor != MySQL {
		return nil, fmt.Errorf("flavor %q: want mariadb or mysql", flavor)
	}
	mysql := flavor == MySQL
	metaDB := opt.MetaDB
	if metaDB == "" {
		metaDB = "drc_meta"
	}
	on := func(names ...string) Privilege { return Privilege{Names: names} }
	meta := func(name, why string) Privilege { return Privilege{Names: []string{name}, DB: metaDB, Why: why} }
	why := func(p Privilege, w string) Privilege { p.Why = w; return p }
	// Keeping a session's writes out of the binlog (sql_log_bin = 0).
	noBinlog := why(on("BINLOG ADMIN", "SUPER"), "SET sql_log_bin = 0, so its writes are not replicated")
	// MariaDB 10.5+ lists REPLICATION CLIENT as BINLOG MONITOR; SUPER no
	// longer covers either.
	// MySQL's drc reads its positions from variables (gtid_executed,
	// gtid_purged), which need no privilege.
	var binlogMonitor []Privilege
	writeReadOnly := why(on("READ_ONLY ADMIN"), "write while read_only is on (this region is a standby)")
	if mysql {
		noBinlog = why(on("SESSION_VARIABLES_ADMIN", "SYSTEM_VARIABLES_ADMIN", "SUPER"), "SET sql_log_bin = 0, so its writes are not replicated")
		writeReadOnly = why(on("CONNECTION_ADMIN", "SUPER"), "write while read_only is on (this region is a standby)")
	} else {
		binlogMonitor = []Privilege{why(on("BINLOG MONITOR", "REPLICATION CLIENT"), "list the binlogs (where the binlog was purged up to)")}
	}
	metaOwner := []Privilege{
		meta("SELECT", "read its state in drc_meta"),
		meta("INSERT", "write its state in drc_meta"),
		meta("UPDATE", "write its state in drc_meta"),
		meta("DELETE", "clear its state in drc_meta"),
		meta("CREATE", "create the drc_meta tables"),
	}
	data := func(name, w string) Privilege {
		return Privilege{Names: []string{name}, Data: true, NotIn: metaDB, Why: w}
	}
	readAll := data("SELECT", "read the replicated tables")
	write := []Privilege{
		data("INSERT", "apply row changes"),
		data("UPDATE", "apply row changes"),
		data("DELETE", "apply row changes"),
	}

	switch role {
	case Replicator:
		need := append([]Privilege{why(on("REPLICATION SLAVE", "REPLICATION REPLICA"), "read the binlog stream")}, binlogMonitor...)
		return append(need,
			meta("SELECT", "read drc_meta (heartbeat, skips)"),
			meta("INSERT", "write the heartbeat"),
			meta("UPDATE", "write the heartbeat"),
			meta("CREATE", "create the drc_meta tables"),
		), nil
	case Applier:
		need := append([]Privilege{readAll}, write...)
		need = append(need, ddlPrivileges(opt.DDLKinds, mysql, metaDB)...)
		if opt.Triggers != "fire" {
			need = append(need, data("TRIGGER", "see the target's triggers (applier.triggers: stop)"))
		}
		if opt.ReadOnly {
			need = append(need, writeReadOnly)
		}
		return dedupe(append(need, metaOwner...)), nil
	case BootstrapSource:
		need := []Privilege{readAll}
		if mysql {
			need = append(need, why(on("BACKUP_ADMIN"), "LOCK INSTANCE FOR BACKUP and read performance_schema.log_status"))
		}
		return need, nil
	case BootstrapTarget:
		// It creates the tables and copies rows; a resumed copy deletes
		// the rows of its unfinished chunks first.
		need := []Privilege{readAll, write[0], write[2], data("CREATE", "create the copied databases and tables"), noBinlog}
		return dedupe(append(need, metaOwner...)), nil
	case ReconcileSource:
		return []Privilege{readAll}, nil
	case ReconcileTarget:
		need := []Privilege{readAll}
		if opt.Repair {
			need = append(need, write...)
			need = append(need, noBinlog)
		}
		return dedupe(append(need, metaOwner...)), nil
	case IDGen:
		return metaOwner, nil
	case StatusSource:
		return append(binlogMonitor, meta("SELECT", "read the heartbeat")), nil
	case DR:
		if mysql {
			return []Privilege{
				why(on("SYSTEM_VARIABLES_ADMIN", "SUPER"), "set read_only and super_read_only (fence, promote)"),
				why(on("CONNECTION_ADMIN", "SUPER"), "end other accounts' connections when fencing"),
				why(on("PROCESS"), "see every open transaction when fencing"),
			}, nil
		}
		return []Privilege{
			// MariaDB 10.11 took READ_ONLY ADMIN out of SUPER.
			why(on("READ_ONLY ADMIN"), "set read_only (fence, promote)"),
			why(on("CONNECTION ADMIN", "SUPER"), "end other accounts' connections when fencing"),
			why(on("BINLOG ADMIN", "SUPER"), "keep its own drc_meta records out of the binlog (sql_log_bin = 0)"),
			why(on("PROCESS"), "see every open transaction when fencing"),
		}, nil
	case StatusTarget:
		return []Privilege{meta("SELECT", "read the checkpoint, heartbeat and conflicts")}, nil
	}
	return nil, fmt.Errorf("unknown role %q", role)
}

// ddlPrivileges are what running replicated DDL of kinds needs. Views,
// triggers, routines and events arrive with the DEFINER the source gave
// them, which only an account that may name another definer can run.
func ddlPrivileges(kinds []string, mysql bool, metaDB string) []Privilege {
	p := func(name, why string) Privilege {
		return Privilege{Names: []string{name}, Data: true, NotIn: metaDB, Why: why}
	}
	definer := Privilege{Names: []string{"SET USER", "SUPER"}, Why: "run replicated DDL that names its DEFINER"}
	if mysql {
		definer.Names = []string{"SET_ANY_DEFINER", "SET_USER_ID", "SUPER"}
	}
	var out []Privilege
	for _, k := range kinds {
		switch k {
		case "view", "trigger", "routine", "event":
			out = append(out, definer)
		}
		switch k {
		case "table", "database", "sequence":
			out = append(out, p("CREATE", "run replicated "+k+" DDL"), p("ALTER", "run replicated "+k+" DDL"),
				p("DROP", "run replicated "+k+" DDL"))
		case "index":
			out = append(out, p("INDEX", "run replicated index DDL"))
		case "view":
			out = append(out, p("CREATE VIEW", "run replicated view DDL"), p("DROP", "run replicated view DDL"))
		case "trigger":
			out = append(out, p("TRIGGER", "run replicated trigger DDL"))
		case "routine":
			out = append(out, p("CREATE ROUTINE", "run replicated routine DDL"), p("ALTER ROUTINE", "run replicated routine DDL"))
		case "event":
			out = append(out, p("EVENT", "run replicated event DDL"))
		}
	}
	return out
}

// dedupe keeps the first of each privilege on each scope.
func dedupe(privs []Privilege) []Privilege {
	var out []Privilege
	for _, p := range privs {
		if !slices.ContainsFunc(out, func(o Privilege) bool { return o.DB == p.DB && o.Names[0] == p.Names[0] }) {
			out = append(out, p)
		}
	}
	return out
}
