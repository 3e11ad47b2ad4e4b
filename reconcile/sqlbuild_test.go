package reconcile

import (
	"strings"
	"testing"
)

// weirdTable has identifiers with backticks, spaces and non-ASCII letters,
// a composite key and one column of each encoding class.
func weirdTable() *tablePlan {
	return &tablePlan{
		Name: TableName{DB: "d`b", Name: "tä ble"},
		Columns: []tableColumn{
			{Name: "k`1", class: classInt},
			{Name: "k 2", class: classString, Charset: "utf8mb4"},
			{Name: "naïve", class: classString, Charset: "utf8mb4", Nullable: true},
			{Name: "bin", class: classBinary},
			{Name: "dec", class: classDecimal, Precision: 10, Scale: 2, Nullable: true},
			{Name: "fl", class: classFloat},
			{Name: "ts", class: classTimestamp},
			{Name: "dt", class: classTemporal},
			{Name: "b", class: classBit},
		},
		Key:          []int{0, 1},
		KeyIsPrimary: true,
		SourceIndex:  "PRIMARY",
		TargetIndex:  "PRIMARY",
	}
}

func TestRowEncoding(t *testing.T) {
	b := &builder{t: weirdTable(), digest: DigestSHA256}
	want := "CONCAT_WS('|', `k``1`, LENGTH(`k 2`), `k 2`, LENGTH(`naïve`), `naïve`, LENGTH(`bin`), `bin`, `dec`, " +
		"CAST(`fl` AS DOUBLE), UNIX_TIMESTAMP(`ts`), `dt`, (`b` + 0), CONCAT(ISNULL(`naïve`), ISNULL(`dec`)))"
	if got := b.rowEncoding(); got != want {
		t.Errorf("rowEncoding:\n got %s\nwant %s", got, want)
	}
}

func TestPartEncoding(t *testing.T) {
	b := &builder{t: weirdTable(), digest: DigestSHA256}
	// Nullable columns and conversions are IFNULL'd: GROUP_CONCAT would skip
	// the whole row for one NULL argument.
	want := "`k``1`, '|', LENGTH(`k 2`), '|', `k 2`, '|', IFNULL(LENGTH(`naïve`), ''), '|', IFNULL(`naïve`, ''), '|', " +
		"LENGTH(`bin`), '|', `bin`, '|', IFNULL(`dec`, ''), '|', IFNULL(CAST(`fl` AS DOUBLE), ''), '|', " +
		"IFNULL(UNIX_TIMESTAMP(`ts`), ''), '|', `dt`, '|', IFNULL((`b` + 0), ''), '|', ISNULL(`naïve`), ISNULL(`dec`)"
	if got := b.partEncoding(); got != want {
		t.Errorf("partEncoding:\n got %s\nwant %s", got, want)
	}
}

func TestRowEncodingCharsets(t *testing.T) {
	tb := &tablePlan{Name: TableName{"d", "t"}, Columns: []tableColumn{
		{Name: "id", class: classInt},
		{Name: "a", class: classString, asBinary: true},
		{Name: "b", class: classString, convert: true},
		{Name: "j", class: classJSON},
	}, Key: []int{0}, KeyIsPrimary: true, SourceIndex: "PRIMARY", TargetIndex: "PRIMARY"}
	b := &builder{t: tb, digest: DigestMD5}
	want := "CONCAT_WS('|', `id`, LENGTH(CAST(`a` AS BINARY)), CAST(`a` AS BINARY), LENGTH(CONVERT(`b` USING utf8mb4)), CONVERT(`b` USING utf8mb4), " +
		"LENGTH(CAST(`j` AS CHAR)), CAST(`j` AS CHAR))"
	if got := b.rowEncoding(); got != want {
		t.Errorf("rowEncoding:\n got %s\nwant %s", got, want)
	}
}

func TestRangeCond(t *testing.T) {
	b := &builder{t: weirdTable()}
	lo := rowKey{[]byte("5"), []byte("x'y")}
	hi := rowKey{[]byte("9"), []byte("é")}
	tests := []struct {
		r    keyRange
		want string
	}{
		{keyRange{}, "TRUE"},
		{keyRange{Lo: lo}, "`k``1` >= 5 AND (`k``1` > 5 OR (`k``1` = 5 AND `k 2` > 'x''y'))"},
		{keyRange{Hi: hi}, "`k``1` <= 9 AND (`k``1` < 9 OR (`k``1` = 9 AND `k 2` <= _utf8mb4 X'C3A9'))"},
		{keyRange{Lo: lo, Hi: hi}, "`k``1` >= 5 AND (`k``1` > 5 OR (`k``1` = 5 AND `k 2` > 'x''y')) AND " +
			"`k``1` <= 9 AND (`k``1` < 9 OR (`k``1` = 9 AND `k 2` <= _utf8mb4 X'C3A9'))"},
	}
	for _, tt := range tests {
		got, err := b.rangeCond(tt.r)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("rangeCond(%v):\n got %s\nwant %s", tt.r, got, tt.want)
		}
	}

	single := &builder{t: &tablePlan{Name: TableName{"d", "t"}, Columns: []tableColumn{{Name: "id", class: classUint}}, Key: []int{0}}}
	got, _ := single.rangeCond(keyRange{Lo: rowKey{[]byte("18446744073709551614")}, Hi: rowKey{[]byte("18446744073709551615")}})
	if want := "`id` > 18446744073709551614 AND `id` <= 18446744073709551615"; got != want {
		t.Errorf("single-column rangeCond:\n got %s\nwant %s", got, want)
	}
	three := &builder{t: &tablePlan{Name: TableName{"d", "t"}, Columns: []tableColumn{
		{Name: "a", class: classInt}, {Name: "b", class: classDecimal}, {Name: "c", class: classTemporal}}, Key: []int{0, 1, 2}}}
	got, _ = three.rangeCond(keyRange{Lo: rowKey{[]byte("1"), []byte("2.50"), []byte("2024-01-01 00:00:00.5")}})
	if want := "`a` >= 1 AND (`a` > 1 OR (`a` = 1 AND `b` > 2.50) OR (`a` = 1 AND `b` = 2.50 AND `c` > '2024-01-01 00:00:00.5'))"; got != want {
		t.Errorf("three-column rangeCond:\n got %s\nwant %s", got, want)
	}
}

func TestPartsHashSQL(t *testing.T) {
	tb := &tablePlan{Name: TableName{"d", "t"}, Columns: []tableColumn{{Name: "id", class: classInt}, {Name: "v", class: classString}},
		Key: []int{0}, KeyIsPrimary: true, SourceIndex: "PRIMARY", TargetIndex: "PRIMARY"}
	b := &builder{t: tb, digest: DigestSHA256}
	got, err := b.partsHashSQL(targetSide, []keyRange{{Hi: rowKey{[]byte("10")}}, {Lo: rowKey{[]byte("10")}}})
	if err != nil {
		t.Fatal(err)
	}
	agg := "SHA2(GROUP_CONCAT(`id`, '|', LENGTH(`v`), '|', `v` SEPARATOR X'0A'), 256)"
	want := "SELECT 0, COUNT(*), " + agg + " FROM `d`.`t` FORCE INDEX (`PRIMARY`) WHERE `id` <= 10 UNION ALL " +
		"SELECT 1, COUNT(*), " + agg + " FROM `d`.`t` FORCE INDEX (`PRIMARY`) WHERE `id` > 10"
	if got != want {
		t.Errorf("partsHashSQL:\n got %s\nwant %s", got, want)
	}

	// A secondary unique key: its index name per side, and an explicit
	// order inside GROUP_CONCAT.
	tb.KeyIsPrimary, tb.SourceIndex, tb.TargetIndex = false, "uk`s", "uk_t"
	got, _ = b.partsHashSQL(sourceSide, []keyRange{{}})
	if !strings.Contains(got, "FORCE INDEX (`uk``s`)") || !strings.Contains(got, "ORDER BY `id` SEPARATOR") {
		t.Errorf("unique-key partsHashSQL: %s", got)
	}
	got, _ = b.partsHashSQL(targetSide, []keyRange{{}})
	if !strings.Contains(got, "FORCE INDEX (`uk_t`)") {
		t.Errorf("unique-key partsHashSQL on target: %s", got)
	}
}

func TestRowsSQL(t *testing.T) {
	b := &builder{t: weirdTable()}
	got, err := b.rowsSQL(sourceSide, []rowKey{{[]byte("1"), []byte("a")}, {[]byte("2"), []byte("b")}}, true)
	if err != nil {
		t.Fatal(err)
	}
	want := "SELECT `k``1`, `k 2`, `naïve`, `bin`, `dec`, CAST(`fl` AS DOUBLE), CAST(`ts` AS CHAR), CAST(`dt` AS CHAR), `b` " +
		"FROM `d``b`.`tä ble` FORCE INDEX (`PRIMARY`) WHERE (`k``1` = 1 AND `k 2` = 'a') OR (`k``1` = 2 AND `k 2` = 'b') LOCK IN SHARE MODE"
	if got != want {
		t.Errorf("rowsSQL:\n got %s\nwant %s", got, want)
	}
	single := &builder{t: &tablePlan{Name: TableName{"d", "t"}, Columns: []tableColumn{{Name: "id", class: classBinary}}, Key: []int{0}, SourceIndex: "PRIMARY"}}
	got, _ = single.rowsSQL(sourceSide, []rowKey{{[]byte{0, 0xff}}, {[]byte{}}}, false)
	if want := "SELECT `id` FROM `d`.`t` FORCE INDEX (`PRIMARY`) WHERE `id` IN (X'00FF', X'')"; got != want {
		t.Errorf("rowsSQL binary key:\n got %s\nwant %s", got, want)
	}
}

func TestLiteral(t *testing.T) {
	tests := []struct {
		c    tableColumn
		v    []byte
		want string
	}{
		{tableColumn{class: classInt}, nil, "NULL"},
		{tableColumn{class: classInt}, []byte("-42"), "-42"},
		{tableColumn{class: classDecimal}, []byte("1.50"), "1.50"},
		{tableColumn{class: classFloat}, []byte("1e-300"), "1e-300"},
		{tableColumn{class: classString}, []byte(""), "''"},
		{tableColumn{class: classString}, []byte("it's  "), "'it''s  '"},
		{tableColumn{class: classString}, []byte(`a\b`), "_utf8mb4 X'615C62'"},
		{tableColumn{class: classString}, []byte("é"), "_utf8mb4 X'C3A9'"},
		{tableColumn{class: classString}, []byte("a\nb"), "_utf8mb4 X'610A62'"},
		{tableColumn{class: classBinary}, []byte{0, 1}, "X'0001'"},
		{tableColumn{class: classBit}, []byte{5}, "X'05'"},
		{tableColumn{class: classTemporal}, []byte("2024-01-02 03:04:05.000006"), "'2024-01-02 03:04:05.000006'"},
		{tableColumn{class: classTemporal}, []byte("-838:59:59"), "'-838:59:59'"},
	}
	for _, tt := range tests {
		got, err := literal(tt.c, tt.v)
		if err != nil {
			t.Errorf("literal(%q): %v", tt.v, err)
			continue
		}
		if got != tt.want {
			t.Errorf("literal(%q) = %s, want %s", tt.v, got, tt.want)
		}
	}
	// Values that are not what the column's class promises are refused, not
	// spliced into SQL.
	for _, bad := range []struct {
		c tableColumn
		v string
	}{
		{tableColumn{Name: "n", class: classInt}, "1; DROP TABLE x"},
		{tableColumn{Name: "n", class: classDecimal}, ""},
		{tableColumn{Name: "t", class: classTemporal}, "2024-01-01T00:00:00Z"},
		{tableColumn{Name: "t", class: classTimestamp}, "'"},
	} {
		if got, err := literal(bad.c, []byte(bad.v)); err == nil {
			t.Errorf("literal(%q) = %s, want error", bad.v, got)
		}
	}
}

func TestRepairSQL(t *testing.T) {
	b := &builder{t: weirdTable()}
	row := rowImage{[]byte("7"), []byte("k'"), nil, []byte{0xde, 0xad}, []byte("1.50"), []byte("0.1"), []byte("2024-01-01 00:00:00"), []byte("2024-01-01"), []byte{1}}
	ins, err := b.insertSQL(row)
	if err != nil {
		t.Fatal(err)
	}
	if want := "INSERT INTO `d``b`.`tä ble` (`k``1`, `k 2`, `naïve`, `bin`, `dec`, `fl`, `ts`, `dt`, `b`) VALUES " +
		"(7, 'k''', NULL, X'DEAD', 1.50, 0.1, '2024-01-01 00:00:00', '2024-01-01', X'01')"; ins != want {
		t.Errorf("insertSQL:\n got %s\nwant %s", ins, want)
	}
	upd, err := b.updateSQL(row)
	if err != nil {
		t.Fatal(err)
	}
	if want := "UPDATE `d``b`.`tä ble` SET `naïve` = NULL, `bin` = X'DEAD', `dec` = 1.50, `fl` = 0.1, `ts` = '2024-01-01 00:00:00', " +
		"`dt` = '2024-01-01', `b` = X'01' WHERE `k``1` = 7 AND `k 2` = 'k''' LIMIT 1"; upd != want {
		t.Errorf("updateSQL:\n got %s\nwant %s", upd, want)
	}
	del, err := b.deleteSQL(rowKey{[]byte("7"), []byte("k'")})
	if err != nil {
		t.Fatal(err)
	}
	if want := "DELETE FROM `d``b`.`tä ble` WHERE `k``1` = 7 AND `k 2` = 'k''' LIMIT 1"; del != want {
		t.Errorf("deleteSQL:\n got %s\nwant %s", del, want)
	}
}

func TestKeyID(t *testing.T) {
	// Length framing: keys whose concatenations agree must still differ.
	a := rowKey{[]byte("ab"), []byte("c")}
	b := rowKey{[]byte("a"), []byte("bc")}
	if a.id() == b.id() {
		t.Errorf("keys %q and %q share id %q", a, b, a.id())
	}
	if (rowKey{[]byte{}}).id() == (rowKey{}).id() {
		t.Error("an empty value must not vanish from the id")
	}
}
