package event

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// jsonValue is a standalone JSON text and whether json.Valid accepts it.
type jsonValue struct {
	in   string
	want bool
}

// jsonValues covers the grammar the scanner checks: strings, numbers,
// literals, arrays, objects and whitespace, each with valid and invalid
// forms.
func jsonValues() []jsonValue {
	return []jsonValue{
		// Strings.
		{`"abc"`, true},
		{`""`, true},
		{`"\"\\\/\b\f\n\r\t"`, true},
		{`"\u00e9\uD83D\uDE00\uABCD"`, true},
		{`"\uD800"`, true},         // a lone surrogate: json.Valid does not pair them
		{"\"\xff\xfe\xc0\"", true}, // nor check UTF-8
		{"\"\x7f\"", true},
		{"\"caf\u00e9 \u2028\"", true},
		{"\"a\x00b\"", false},
		{"\"\x1f\"", false},
		{"\"ab\x1fcd\"", false},
		{"\"\x10\\\"\"", false},
		{"\"\t\"", false},
		{"\"\n\"", false},
		{`"\a"`, false},
		{`"\x41"`, false},
		{`"\'"`, false},
		{`"\U00e9"`, false},
		{`"\u12"`, false},
		{`"\u123"`, false},
		{`"\u123x"`, false},
		{`"\u12G4"`, false},
		{`"\u00g0"`, false},
		{`"\u"`, false},
		{`"abc`, false},
		{`"abc\"`, false},
		{`"\`, false},
		{`"`, false},
		{`'abc'`, false},
		// Numbers.
		{`0`, true},
		{`-0`, true},
		{`123`, true},
		{`-123`, true},
		{`0.5`, true},
		{`-0.0e0`, true},
		{`1.25e10`, true},
		{`1E+5`, true},
		{`1e-5`, true},
		{`12345678901234567890123456789`, true},
		{`01`, false},
		{`-01`, false},
		{`00`, false},
		{`+1`, false},
		{`.5`, false},
		{`1.`, false},
		{`1.e5`, false},
		{`1e`, false},
		{`1e+`, false},
		{`1E-`, false},
		{`-`, false},
		{`--1`, false},
		{`-.5`, false},
		{`0x10`, false},
		{`1.5.5`, false},
		{`1e5e5`, false},
		{`1_000`, false},
		{`NaN`, false},
		{`Infinity`, false},
		{`-Infinity`, false},
		// Literals.
		{`true`, true},
		{`false`, true},
		{`null`, true},
		{`tru`, false},
		{`True`, false},
		{`nul`, false},
		{`nulll`, false},
		{`falsey`, false},
		{`t`, false},
		{`undefined`, false},
		// Arrays.
		{`[]`, true},
		{`[ ]`, true},
		{`[1,"a",null,[true,{}],-0.5e3]`, true},
		{"[\n1\r\n,\t2 ]", true},
		{`[[[[]]]]`, true},
		{`[1,]`, false},
		{`[,1]`, false},
		{`[,]`, false},
		{`[1 2]`, false},
		{`[1,,2]`, false},
		{`[`, false},
		{`[1`, false},
		{`[1,`, false},
		{`]`, false},
		{`[1}`, false},
		{`[1:2]`, false},
		{`[[]`, false},
		{`[]]`, false},
		{`[01]`, false},
		{`[tru]`, false},
		{"[\"\x01\"]", false},
		// Objects.
		{`{}`, true},
		{`{ }`, true},
		{`{"a":{"b":[1,{"c":null}]}}`, true},
		{` { "a" : 1 , "b" : 2 } `, true},
		{`{"\u0041\n":1}`, true},
		{`{"a":1,"a":2}`, true}, // duplicate keys are valid JSON
		{`{"a":1,}`, false},
		{`{,}`, false},
		{`{,"a":1}`, false},
		{`{"a" 1}`, false},
		{`{"a":}`, false},
		{`{"a"::1}`, false},
		{`{"a"}`, false},
		{`{a:1}`, false},
		{`{'a':1}`, false},
		{`{1:1}`, false},
		{`{null:1}`, false},
		{`{"a":1 "b":2}`, false},
		{`{"a":1,,"b":2}`, false},
		{`{"a":1]`, false},
		{`{"a":1`, false},
		{`{"a":1,`, false},
		{`{"a"`, false},
		{`{`, false},
		{`}`, false},
		{`{"a\q":1}`, false},
		{"{\"a\x0a\":1}", false},
		{`{"a":{"b":[1,{"c":nul}]}}`, false},
		{`{"a":{"b":[1,{"c":1,}]}}`, false},
		{`{"a":{"b":[1,{"c":01}]}}`, false},
		// Whitespace and what surrounds a value.
		{" \t\r\n1 \t\r\n", true},
		{"", false},
		{" ", false},
		{"\v1", false},
		{"\f1", false},
		{"\u00a01", false},
		{"\ufeff1", false},
		{"1\x00", false},
		{"1 2", false},
		{"{}{}", false},
		{"{},", false},
		{"[]x", false},
		{"\"a\"\"b\"", false},
		// Depth, as encoding/json limits it.
		{strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth), true},
		{strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1), false},
		{strings.Repeat(`{"a":`, maxDepth) + "1" + strings.Repeat("}", maxDepth), true},
		{strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1), false},
		{strings.Repeat("[", 100000), false},
	}
}

// checkValue checks src as one standalone JSON value, with the scanner
// that Decode uses.
func checkValue(src []byte) error {
	end, err := skipValue(src, skipSpace(src, 0), 0)
	if err != nil {
		return err
	}
	return checkEnd(src, end)
}

func TestScanValue(t *testing.T) {
	for _, tc := range jsonValues() {
		if json.Valid([]byte(tc.in)) != tc.want {
			t.Fatalf("%.60q: the table says valid=%v, json.Valid disagrees", tc.in, tc.want)
		}
		err := checkValue([]byte(tc.in))
		if got := err == nil; got != tc.want {
			t.Errorf("%.60q: got valid=%v (%v), want %v", tc.in, got, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), "offset") {
			t.Errorf("%.60q: error %q does not give the offset", tc.in, err)
		}
	}
}

// TestDecodeChecksJSON: Decode accepts a record exactly when the JSON is
// valid, wherever in the record a value sits: a JSON column, nested in
// one, an ignored field, or a key.
func TestDecodeChecksJSON(t *testing.T) {
	const head = `{"v":1,"op":"insert","db":"d","table":"t","pk":[],"types":{"j":"json"},`
	wraps := []func(v string) string{
		func(v string) string { return head + `"after":{"j":` + v + `}}` },
		func(v string) string { return head + `"after":{"j":[1,` + v + `]}}` },
		func(v string) string { return head + `"after":{"j":{"k":` + v + `,"l":2}}}` },
		func(v string) string { return `{"unknown":` + v + `,` + head[1:] + `"after":{"j":1}}` },
		func(v string) string { return head + `"after":{"j":1},"unknown":[` + v + `]}` },
	}
	for _, tc := range jsonValues() {
		if strings.TrimSpace(tc.in) == "" || len(tc.in) > 1000 {
			continue // not a value once embedded; depth is tested below
		}
		for _, wrap := range wraps {
			in := wrap(tc.in)
			want := json.Valid([]byte(in))
			if want != tc.want {
				// An invalid text can make a valid record, as "1 2" does
				// in an array.
				continue
			}
			checkDecode(t, in, want)
		}
		if strings.HasPrefix(tc.in, `"`) { // as a key
			in := head + `"after":{"j":{` + tc.in + `:1}}}`
			checkDecode(t, in, json.Valid([]byte(in)))
		}
	}
}

func TestDecodeChecksRecordSyntax(t *testing.T) {
	const rec = `{"v":1,"op":"insert","db":"d","table":"t","pk":[],"types":{"j":"json"},"after":{"j":1}}`
	nested := func(n int) string {
		return `{"v":1,"op":"insert","db":"d","table":"t","pk":[],"types":{"j":"json"},"after":{"j":` +
			strings.Repeat("[", n) + strings.Repeat("]", n) + `}}`
	}
	cases := []struct {
		name, in string
		want     bool
	}{
		{"plain", rec, true},
		{"whitespace around", " \r\n\t" + rec + "\n\t\r ", true},
		{"whitespace inside", strings.ReplaceAll(rec, ",", " ,\n"), true},
		{"trailing data", rec + "x", false},
		{"trailing object", rec + "{}", false},
		{"trailing comma", rec + ",", false},
		{"trailing NUL", rec + "\x00", false},
		{"trailing comma inside", rec[:len(rec)-1] + ",}", false},
		{"byte-order mark", "\ufeff" + rec, false},
		{"form feed", "\f" + rec, false},
		{"missing comma", strings.Replace(rec, `"v":1,`, `"v":1 `, 1), false},
		{"missing colon", strings.Replace(rec, `"op":`, `"op" `, 1), false},
		{"unterminated", rec[:len(rec)-1], false},
		{"empty", "", false},
		{"blank", "  ", false},
		{"bad version number", strings.Replace(rec, `"v":1`, `"v":01`, 1), false},
		{"bad literal in ignored field", strings.Replace(rec, `"v":1`, `"v":1,"x":nulx`, 1), false},
		{"control character in db", strings.Replace(rec, `"db":"d"`, "\"db\":\"d\x01\"", 1), false},
		{"bad escape in types", strings.Replace(rec, `"json"`, `"js\on"`, 1), false},
		{"deepest allowed", nested(maxDepth - 2), true},
		{"too deep", nested(maxDepth - 1), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if json.Valid([]byte(tc.in)) != tc.want {
				t.Fatalf("the table says valid=%v, json.Valid disagrees", tc.want)
			}
			checkDecode(t, tc.in, tc.want)
		})
	}
}

func checkDecode(t *testing.T, in string, want bool) {
	t.Helper()
	_, err := Decode([]byte(in))
	switch {
	case want && err != nil:
		t.Errorf("Decode(%.200q): %v", in, err)
	case !want && err == nil:
		t.Errorf("Decode(%.200q): no error", in)
	case !want && !errors.Is(err, ErrInvalidRecord):
		t.Errorf("Decode(%.200q): error %v does not wrap ErrInvalidRecord", in, err)
	}
}

func TestDecodeSyntaxErrorSaysWhere(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"v":1,"x":tru}`, `invalid character '}' at offset 14 in literal true`},
		{`{"v":1,"x":[1,]}`, `invalid character ']' at offset 14 looking for beginning of value`},
		{`{"v":1,"x":"\q"}`, `invalid character 'q' at offset 13 in string escape code`},
		{"{\"v\":1,\"x\":\"\x01\"}", `invalid character '\x01' at offset 12 in string literal`},
		{`{"v":1,"x":1.}`, `invalid character '}' at offset 13 after decimal point in numeric literal`},
		{`{"v":1,"x":-}`, `invalid character '}' at offset 12 in numeric literal`},
		{`{"v":1}x`, `invalid character 'x' at offset 7 after top-level value`},
		{`{"v":1,"x":"ab`, `unexpected end of JSON input at offset 14`},
		{`{"v":1,"x":` + strings.Repeat("[", maxDepth), `nesting deeper than 10000 at offset 10010`},
	}
	for _, tc := range cases {
		_, err := Decode([]byte(tc.in))
		if !errors.Is(err, ErrInvalidRecord) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%.40q): got %v, want ErrInvalidRecord and %q", tc.in, err, tc.want)
		}
	}
}

// TestDecodeDoesNotAlias: the Record keeps its own copy of the values, so
// the caller may reuse its buffer.
func TestDecodeDoesNotAlias(t *testing.T) {
	in := []byte(`{"v":1,"op":"insert","db":"d","table":"t","pk":[],"types":{"j":"json"},"after":{"j":[1,2]}}`)
	rec, err := Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = ' '
	}
	if v, _ := rec.After.Value("j"); string(v) != `[1,2]` {
		t.Errorf("after overwriting the input, Value(j) = %q", v)
	}
}

// FuzzScanValue: the scanner's verdict on any text is json.Valid's.
func FuzzScanValue(f *testing.F) {
	for _, tc := range jsonValues() {
		if len(tc.in) < 1000 {
			f.Add([]byte(tc.in))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := checkValue(data)
		if want := json.Valid(data); (err == nil) != want {
			t.Fatalf("scanner says %v, json.Valid says valid=%v", err, want)
		}
	})
}

// TestScanStringWordAtATime checks the eight-bytes-at-a-time skip of
// scanString against json.Valid: every byte value at every position of a
// 20-byte string body, so each lands in each lane of a word and in the
// byte-wise tail.
func TestScanStringWordAtATime(t *testing.T) {
	for pos := range 20 {
		for c := range 256 {
			body := []byte("abcdefghijklmnopqrst")
			body[pos] = byte(c)
			in := append(append([]byte{'"'}, body...), '"')
			end, _, err := scanString(in, 0)
			want := json.Valid(in)
			got := err == nil && end == len(in)
			if c == '"' {
				// The string ends at the quote: the scanner stops there.
				want, got = true, err == nil && end == pos+2
			}
			if got != want {
				t.Fatalf("byte %#x at %d: scanString end=%d err=%v, json.Valid=%v", c, pos, end, err, want)
			}
		}
	}
}

// TestPlainString checks unquote's fast test the same way.
func TestPlainString(t *testing.T) {
	for pos := range 20 {
		for c := range 256 {
			body := []byte("abcdefghijklmnopqrst")
			body[pos] = byte(c)
			want := c >= 0x20 && c != '"' && c != '\\'
			if got := plainString(body); got != want {
				t.Fatalf("byte %#x at %d: plainString = %v, want %v", c, pos, got, want)
			}
		}
	}
}
