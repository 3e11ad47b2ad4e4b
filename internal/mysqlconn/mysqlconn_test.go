package mysqlconn

import (
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
)

func TestTLSValidate(t *testing.T) {
	for _, tc := range []struct {
		tls  TLS
		want string // "" valid
	}{
		{TLS{}, ""},
		{TLS{Mode: Disabled}, ""},
		{TLS{Mode: Required}, ""},
		{TLS{Mode: VerifyIdentity, CA: "ca.pem"}, ""},
		{TLS{Mode: "on"}, `tls.mode "on"`},
		{TLS{Mode: VerifyCA}, "needs tls.ca"},
		{TLS{Mode: Required, Cert: "c.pem"}, "go together"},
		{TLS{Mode: Preferred, CA: "ca.pem"}, "uses no certificate"},
	} {
		err := tc.tls.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: Validate = %v, want %q", tc.tls, err, tc.want)
		}
	}
}

func TestTLSWeakAndClient(t *testing.T) {
	for _, m := range Modes {
		weak := TLS{Mode: m}.Weak()
		if (weak == "") != (m == VerifyIdentity) {
			t.Errorf("mode %s: Weak = %q", m, weak)
		}
	}
	for _, m := range []string{Disabled, Preferred} {
		if c, err := (TLS{Mode: m}).Client("h"); c != nil || err != nil {
			t.Errorf("mode %s: Client = %v, %v; want nil, nil", m, c, err)
		}
	}
	c, err := TLS{Mode: Required}.Client("h")
	if err != nil || c == nil || !c.InsecureSkipVerify || c.MinVersion < tls.VersionTLS12 {
		t.Errorf("required: %+v, %v", c, err)
	}
	if _, err := (TLS{Mode: VerifyIdentity, CA: "/nonexistent/ca.pem"}).Client("h"); err == nil || !strings.Contains(err.Error(), "tls.ca") {
		t.Errorf("missing CA file: %v", err)
	}
}

func TestEndpointHidesPassword(t *testing.T) {
	e := Endpoint{Host: "db1", Port: 3306, User: "drc", Password: "s3cret"}
	for _, s := range []string{fmt.Sprint(e), fmt.Sprintf("%v %s %+v %#v", e, e, e, e), fmt.Sprint([]Endpoint{e})} {
		if strings.Contains(s, "s3cret") {
			t.Errorf("printed endpoint shows the password: %s", s)
		}
	}
	mc, err := e.Driver()
	if err != nil || mc.Addr != "db1:3306" || mc.TLSConfig != "preferred" || mc.Params["time_zone"] != "'+00:00'" {
		t.Errorf("Driver = %+v, %v", mc, err)
	}
	mc, err = Endpoint{Host: "db1", Port: 3306, TLS: TLS{Mode: Required}}.Driver()
	if err != nil || !strings.HasPrefix(mc.TLSConfig, "drc-") || !strings.Contains(mc.FormatDSN(), "tls="+mc.TLSConfig) {
		t.Errorf("required: TLSConfig %q, %v", mc.TLSConfig, err)
	}
}
