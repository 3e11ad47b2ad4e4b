package applier

import (
	"testing"

	"github.com/drc-dev/drc/replicator/event"
)

func cols(cs ...event.Column) []*event.Column {
	out := make([]*event.Column, len(cs))
	for i := range cs {
		out[i] = &cs[i]
	}
	return out
}

func TestBuilders(t *testing.T) {
	id := event.Column{Name: "id", Kind: event.KindInt}
	odd := event.Column{Name: "we`ird col", Kind: event.KindVarChar, Charset: "utf8mb4"}
	dec := event.Column{Name: "price", Kind: event.KindDecimal, Precision: 10, Scale: 2}
	q := qualify("sh`op", "it.ems")
	tests := []struct {
		name, got, want string
	}{
		{"qualify", q, "`sh``op`.`it.ems`"},
		{"insert", buildInsert(q, cols(id, odd, dec), 2),
			"INSERT INTO `sh``op`.`it.ems` (`id`, `we``ird col`, `price`) VALUES (?, ?, CAST(? AS DECIMAL(10,2))), (?, ?, CAST(? AS DECIMAL(10,2)))"},
		{"update", buildUpdate(q, cols(dec), cols(id, odd, dec), 1),
			"UPDATE `sh``op`.`it.ems` SET `price` = CAST(? AS DECIMAL(10,2)) WHERE `id` = ? AND `we``ird col` <=> ? AND `price` <=> CAST(? AS DECIMAL(10,2))"},
		{"update without key", buildUpdate(q, cols(odd), cols(id, odd), 0),
			"UPDATE `sh``op`.`it.ems` SET `we``ird col` = ? WHERE `id` <=> ? AND `we``ird col` <=> ? LIMIT 1"},
		{"delete", buildDelete(q, cols(id, odd), 1),
			"DELETE FROM `sh``op`.`it.ems` WHERE `id` = ? AND `we``ird col` <=> ?"},
		{"delete with a vector", buildDelete(q, cols(id, event.Column{Name: "v", Kind: event.KindVector}), 1),
			"DELETE FROM `sh``op`.`it.ems` WHERE `id` = ? AND CAST(`v` AS BINARY) <=> ?"},
		{"delete without key", buildDelete(q, cols(id), 0),
			"DELETE FROM `sh``op`.`it.ems` WHERE `id` <=> ? LIMIT 1"},
		{"select by key", buildSelectByKey(q, cols(id)), "SELECT * FROM `sh``op`.`it.ems` WHERE `id` = ?"},
		{"delete by key", buildDeleteByKey(q, cols(odd)), "DELETE FROM `sh``op`.`it.ems` WHERE `we``ird col` = ?"},
		{"newer", buildNewer(q, &dec, cols(id)),
			"SELECT CASE WHEN `price` IS NULL THEN 1 WHEN CAST(? AS DECIMAL(10,2)) IS NULL THEN 0 WHEN `price` = CAST(? AS DECIMAL(10,2)) THEN 2 WHEN `price` < CAST(? AS DECIMAL(10,2)) THEN 1 ELSE 0 END FROM `sh``op`.`it.ems` WHERE `id` = ?"},
		{"begin", beginSQL(newSlotKey("c1", 2, 3), 42, "a'", "1-1-9"),
			"START TRANSACTION; INSERT INTO drc_meta.apply_checkpoint (cluster, part, kafka_offset, gtid_set, origin, last_gtid) VALUES ('c1/w', 2003, 42, '', 'a''', '1-1-9') ON DUPLICATE KEY UPDATE kafka_offset = VALUES(kafka_offset), origin = VALUES(origin), last_gtid = VALUES(last_gtid)"},
		{"commit", commitSQL(Checkpoint{Cluster: "c1", Part: 0, Offset: 7, GTIDSet: "1-1-9,2-2-3", Origin: "a", LastGTID: "1-1-9"}),
			"INSERT INTO drc_meta.apply_checkpoint (cluster, part, kafka_offset, gtid_set, origin, last_gtid) VALUES ('c1', 0, 7, '1-1-9,2-2-3', 'a', '1-1-9') ON DUPLICATE KEY UPDATE kafka_offset = VALUES(kafka_offset), gtid_set = VALUES(gtid_set), origin = VALUES(origin), last_gtid = VALUES(last_gtid); COMMIT"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s:\ngot  %s\nwant %s", tt.name, tt.got, tt.want)
		}
	}
}

func TestPolicies(t *testing.T) {
	p, err := newPolicies("source-wins", "apply", "stop", []TablePolicy{
		{Table: "shop.audit", Conflict: "target-wins"},
		{Table: "shop.*", Conflict: "newer-wins:updated_at", DDL: "skip"},
		{Table: "*.*", DDL: "stop"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		db, table string
		conflict  string
		ddl       DDLAction
	}{
		{"shop", "audit", "target-wins", DDLSkip},
		{"shop", "orders", "newer-wins:updated_at", DDLSkip},
		{"shop", "", "newer-wins:updated_at", DDLSkip},
		{"crm", "people", "source-wins", DDLStop},
	}
	for _, tt := range tests {
		if got := p.Conflict(tt.db, tt.table).String(); got != tt.conflict {
			t.Errorf("Conflict(%s.%s) = %s, want %s", tt.db, tt.table, got, tt.conflict)
		}
		if got := p.DDL(tt.db, tt.table); got != tt.ddl {
			t.Errorf("DDL(%s.%s) = %s, want %s", tt.db, tt.table, got, tt.ddl)
		}
	}
	for _, bad := range []string{"", "newer-wins:", "source_wins"} {
		if _, err := ParseConflictPolicy(bad); err == nil {
			t.Errorf("ParseConflictPolicy(%q): no error", bad)
		}
	}
}

func TestWriteSet(t *testing.T) {
	rec := func(js string) *event.Record {
		r, err := event.Decode([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	const types = `"types":{"id":"int","sku":"varchar utf8mb4","n":"int"}`
	a := rec(`{"v":1,"op":"insert","db":"s","table":"t","pk":["id"],` + types + `,"after":{"id":1,"sku":"AbC ","n":1}}`)
	b := rec(`{"v":1,"op":"insert","db":"s","table":"t","pk":["id"],` + types + `,"after":{"id":2,"sku":"abc","n":2}}`)
	c := rec(`{"v":1,"op":"insert","db":"s","table":"t","pk":["id"],` + types + `,"after":{"id":3,"sku":null,"n":3}}`)
	tt := &targetTable{uniques: [][]string{{"id"}, {"sku"}}}
	h := newWriteSetHasher()
	pa, pb := newPlan(a.After.Table, tt), newPlan(b.After.Table, tt)
	wa, wb, wc := h.add(nil, pa, a.After), h.add(nil, pb, b.After), h.add(nil, pb, c.After)
	if len(wa) != 2 || len(wc) != 1 {
		t.Fatalf("write-sets %v %v: want 2 keys, and 1 (a NULL unique value has none)", wa, wc)
	}
	if wa[0] == wb[0] || wa[1] != wb[1] {
		t.Errorf("primary keys must differ and unique keys 'AbC ' and 'abc' collide: %v %v", wa, wb)
	}
}

// TestWriteSetForeignKeys: a child row and the parent row it references
// share a write-set key, so their transactions run in source order;
// another parent does not.
func TestWriteSetForeignKeys(t *testing.T) {
	var dec event.Decoder
	rec := func(s string) *event.Record {
		r, err := dec.Decode([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	parent := rec(`{"v":1,"op":"insert","db":"s","table":"p","pk":["id"],"types":{"id":"int","name":"varchar utf8mb4"},"after":{"id":7,"name":"x"}}`)
	other := rec(`{"v":1,"op":"insert","db":"s","table":"p","pk":["id"],"types":{"id":"int","name":"varchar utf8mb4"},"after":{"id":8,"name":"y"}}`)
	child := rec(`{"v":1,"op":"insert","db":"s","table":"c","pk":["id"],"types":{"id":"int","pid":"int"},"after":{"id":1,"pid":7}}`)
	orphan := rec(`{"v":1,"op":"insert","db":"s","table":"c","pk":["id"],"types":{"id":"int","pid":"int"},"after":{"id":2,"pid":null}}`)
	ns := "`s`.`p`(id)"
	pt := &targetTable{uniques: [][]string{{"id"}}, fkeys: []fkey{{ns: ns, cols: []string{"id"}}}}
	ct := &targetTable{uniques: [][]string{{"id"}}, fkeys: []fkey{{ns: ns, cols: []string{"pid"}}}}
	h := newWriteSetHasher()
	pp, cp := newPlan(parent.After.Table, pt), newPlan(child.After.Table, ct)
	wp, wo := h.add(nil, pp, parent.After), h.add(nil, pp, other.After)
	wc, wn := h.add(nil, cp, child.After), h.add(nil, cp, orphan.After)
	shares := func(a, b WriteSet) bool {
		for _, x := range a {
			for _, y := range b {
				if x == y {
					return true
				}
			}
		}
		return false
	}
	if !shares(wp, wc) {
		t.Errorf("child %v and its parent %v share no key", wc, wp)
	}
	if shares(wo, wc) {
		t.Errorf("child %v shares a key with another parent %v", wc, wo)
	}
	if len(wn) != 1 {
		t.Errorf("a NULL foreign key adds a key: %v", wn)
	}
}
