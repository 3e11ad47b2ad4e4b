package main

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImage builds the image archive the way `make image` does (or, with
// DRC_IMAGE_TAR set, takes the one `make image` wrote), reads it both as an
// OCI layout and as a docker-save archive, unpacks its root filesystem and
// runs drc from it. There is no container runtime here, so the binary is
// executed directly: that it runs at all from a tree with no libc shows it
// is static.
func TestImage(t *testing.T) {
	dir := t.TempDir()
	// make check-packaging: the archive make image wrote, and its version.
	archive := os.Getenv("DRC_IMAGE_TAR")
	wantVersion := os.Getenv("DRC_IMAGE_VERSION")
	if archive == "" {
		wantVersion = "imagetest-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		archive = filepath.Join(dir, "drc-image.tar")
		buildArchive(t, dir, archive, wantVersion)
	}

	layoutDir := filepath.Join(dir, "layout")
	untar(t, archive, layoutDir)

	idx, err := layout.ImageIndexFromPath(layoutDir)
	if err != nil {
		t.Fatalf("read the archive as an OCI layout: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("index.json lists %d manifests, want 1", len(im.Manifests))
	}
	if ref := im.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; ref == "" {
		t.Errorf("index.json's manifest has no org.opencontainers.image.ref.name")
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatalf("image %s: %v", im.Manifests[0].Digest, err)
	}
	// Docker's view: manifest.json names the same config blob.
	dockerImg, err := tarball.ImageFromPath(archive, nil)
	if err != nil {
		t.Fatalf("read the archive as a docker-save archive (manifest.json): %v", err)
	}
	ociConfig, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	dockerConfig, err := dockerImg.ConfigName()
	if err != nil {
		t.Fatalf("docker view's config: %v", err)
	}
	if ociConfig != dockerConfig {
		t.Errorf("manifest.json's config is %s, index.json's image has %s", dockerConfig, ociConfig)
	}

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	checkConfig(t, cf)

	root := filepath.Join(dir, "rootfs")
	unpackRootfs(t, img, root)

	// The user the config names exists in the image's /etc/passwd.
	passwd, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil {
		t.Fatalf("image has no /etc/passwd: %v", err)
	}
	uidStr, _, _ := strings.Cut(cf.Config.User, ":")
	if !hasPasswdUID(string(passwd), uidStr) {
		t.Errorf("/etc/passwd has no user with uid %s:\n%s", uidStr, passwd)
	}

	pem, err := os.ReadFile(filepath.Join(root, caBundlePath))
	if err != nil {
		t.Fatalf("image has no CA bundle: %v", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		t.Errorf("/%s holds no PEM certificate", caBundlePath)
	}

	for _, zone := range []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"} {
		data, err := os.ReadFile(filepath.Join(root, zoneinfoDir, zone))
		if err != nil {
			t.Errorf("zoneinfo for %s: %v", zone, err)
			continue
		}
		if _, err := time.LoadLocationFromTZData(zone, data); err != nil {
			t.Errorf("/%s/%s is not tz data: %v", zoneinfoDir, zone, err)
		}
	}

	bin := filepath.Join(root, binaryPath)
	if f, err := elf.Open(bin); err != nil {
		t.Errorf("/%s is not an ELF binary: %v", binaryPath, err)
	} else {
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("/%s is dynamically linked (has an ELF interpreter); the image has no libc", binaryPath)
			}
		}
		f.Close()
	}
	cmd := exec.Command(bin, "version")
	cmd.Env = []string{"PATH=/nonexistent"}
	if os.Geteuid() == 0 {
		// As root (CI), run it as a container would: chrooted into the
		// unpacked filesystem, as the image's user, so nothing of this
		// machine's is at hand.
		cmd.Path = "/" + binaryPath
		cmd.Env = cf.Config.Env
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: uint32(imageUID(t, cf)), Gid: uint32(imageUID(t, cf))}}
		cmd.Dir = "/"
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", binaryPath, err, out)
	}
	got := strings.TrimSpace(string(out))
	if !strings.HasPrefix(got, "drc ") || (wantVersion != "" && got != "drc "+wantVersion) {
		t.Errorf("drc version from the image printed %q, want %q", got, "drc "+wantVersion)
	}
}

// TestImageDeterministic: the same inputs give byte-identical archives.
func TestImageDeterministic(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "drc")
	// Any file stands for the binary here: this test looks only at bytes.
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho drc\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := Contents{Binary: bin, CACerts: testCABundle(t), ZoneinfoZip: zoneinfoZip(t),
		Created: time.Unix(1700000000, 0).UTC(), Version: "v0", Arch: runtime.GOARCH}
	var sums [2][]byte
	for i := range sums {
		img, err := Build(c)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WriteArchive(&buf, img, "drc:v0", c.Created); err != nil {
			t.Fatal(err)
		}
		sums[i] = buf.Bytes()
	}
	if !bytes.Equal(sums[0], sums[1]) {
		t.Errorf("two builds of the same inputs differ (%d and %d bytes)", len(sums[0]), len(sums[1]))
	}
}

func TestWriteArchiveRejectsBadTag(t *testing.T) {
	img, err := Build(Contents{Binary: testCABundle(t), CACerts: testCABundle(t), ZoneinfoZip: zoneinfoZip(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteArchive(io.Discard, img, "Not A Tag!", time.Unix(0, 0)); err == nil {
		t.Errorf("WriteArchive with tag %q: no error", "Not A Tag!")
	}
}

func checkConfig(t *testing.T, cf *v1.ConfigFile) {
	t.Helper()
	if cf.OS != "linux" || cf.Architecture == "" {
		t.Errorf("config os/arch = %q/%q, want linux/<arch>", cf.OS, cf.Architecture)
	}
	if uid := imageUID(t, cf); uid == 0 {
		t.Errorf("config user = %q, want a non-root uid", cf.Config.User)
	}
	if want := []string{"/" + binaryPath}; !slices.Equal(cf.Config.Entrypoint, want) {
		t.Errorf("config entrypoint = %q, want %q", cf.Config.Entrypoint, want)
	}
}

// imageUID is the config's numeric user; numeric, so that Kubernetes'
// runAsNonRoot can check it, and with the same number as group.
func imageUID(t *testing.T, cf *v1.ConfigFile) int {
	t.Helper()
	u, g, _ := strings.Cut(cf.Config.User, ":")
	uid, err := strconv.Atoi(u)
	if err != nil || g != u {
		t.Fatalf("config user = %q, want a numeric uid:gid, both the same", cf.Config.User)
	}
	return uid
}

// buildArchive does what `make image` does: a static build of ./cmd/drc,
// then Build and WriteArchive with Go's zoneinfo.zip and this machine's CA
// bundle.
func buildArchive(t *testing.T, dir, archive, version string) {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not on PATH: %v", err)
	}
	bin := filepath.Join(dir, "drc")
	build := exec.Command(goTool, "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", bin, "./cmd/drc")
	build.Dir = moduleRoot(t)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/drc: %v\n%s", err, out)
	}
	c := Contents{Binary: bin, CACerts: "/etc/ssl/certs/ca-certificates.crt", ZoneinfoZip: zoneinfoZip(t),
		Created: time.Unix(0, 0).UTC(), Version: version, Arch: runtime.GOARCH}
	if _, err := os.Stat(c.CACerts); err != nil {
		t.Fatalf("this machine's CA bundle (package ca-certificates): %v", err)
	}
	img, err := Build(c)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := WriteArchive(f, img, "drc:"+version, c.Created); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..")
}

func zoneinfoZip(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "lib", "time", "zoneinfo.zip")
}

// testCABundle is a PEM file with one self-made certificate's worth of
// text; only its bytes matter to the callers.
func testCABundle(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(p, []byte("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// untar unpacks a tar of regular files and directories into dir.
func untar(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := extractTar(f, dir); err != nil {
		t.Fatalf("unpack %s: %v", archive, err)
	}
}

// unpackRootfs writes the image's flattened filesystem under root.
func unpackRootfs(t *testing.T, img v1.Image, root string) {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	if err := extractTar(rc, root); err != nil {
		t.Fatalf("unpack the image's layers: %v", err)
	}
}

func extractTar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, filepath.Clean(dir)+string(filepath.Separator)) {
			return fmt.Errorf("entry %q leaves the directory", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			// Owner bits only: the test reads and runs what it unpacks.
			w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode).Perm()|0o600)
			if err != nil {
				return err
			}
			if _, err := io.Copy(w, tr); err != nil {
				w.Close()
				return err
			}
			if err := w.Close(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("entry %q: unexpected type %q", h.Name, h.Typeflag)
		}
	}
}

func hasPasswdUID(passwd, uid string) bool {
	for _, line := range strings.Split(passwd, "\n") {
		if f := strings.Split(line, ":"); len(f) >= 7 && f[2] == uid {
			return true
		}
	}
	return false
}
