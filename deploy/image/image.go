package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where things live in the image. The binary's directory is on PATH; the CA
// bundle is where Go's crypto/x509 looks first on Linux; the zoneinfo tree
// is where Go's time package (and everything else) looks.
const (
	binaryPath   = "usr/local/bin/drc"
	caBundlePath = "etc/ssl/certs/ca-certificates.crt"
	zoneinfoDir  = "usr/share/zoneinfo"
)

// The non-root user drc runs as: 65532, the uid distroless images use for
// "nonroot". USER is numeric so that Kubernetes' runAsNonRoot can check it
// without reading /etc/passwd.
const (
	uid  = 65532
	user = "65532:65532"
)

// Contents is what goes into the image: paths on the build machine.
type Contents struct {
	// Binary is a statically linked drc (CGO_ENABLED=0): the image has no
	// libc.
	Binary string
	// CACerts is a PEM bundle, normally the build machine's
	// /etc/ssl/certs/ca-certificates.crt.
	CACerts string
	// ZoneinfoZip is a zip of the tz database, normally Go's own
	// $GOROOT/lib/time/zoneinfo.zip; it is unpacked into
	// /usr/share/zoneinfo, so the image's time zones are the toolchain's.
	ZoneinfoZip string
	// Created is the image's creation time and every file's mtime: fixed
	// (SOURCE_DATE_EPOCH), so the same inputs give the same image digest.
	Created time.Time
	// Version is drc's version, for the image's labels.
	Version string
	// Arch is the binary's GOARCH.
	Arch string
}

// Build assembles the image: one layer holding the files below, and a config
// whose entrypoint is drc and whose user is not root.
func Build(c Contents) (v1.Image, error) {
	var fs fileTree
	if err := fs.addFile(binaryPath, c.Binary, 0o755); err != nil {
		return nil, err
	}
	if err := fs.addFile(caBundlePath, c.CACerts, 0o644); err != nil {
		return nil, err
	}
	if err := fs.addZip(zoneinfoDir, c.ZoneinfoZip); err != nil {
		return nil, err
	}
	fs.add(entry{name: "etc/passwd", mode: 0o644, data: []byte(
		"root:x:0:0:root:/root:/sbin/nologin\n" +
			fmt.Sprintf("drc:x:%d:%d:drc:/nonexistent:/sbin/nologin\n", uid, uid))})
	fs.add(entry{name: "etc/group", mode: 0o644, data: []byte(
		"root:x:0:\n" + fmt.Sprintf("drc:x:%d:\n", uid))})
	// Go's resolver reads this to order /etc/hosts before DNS.
	fs.add(entry{name: "etc/nsswitch.conf", mode: 0o644, data: []byte("hosts: files dns\n")})
	fs.add(entry{name: "tmp", dir: true, mode: 0o1777})

	layerTar, err := fs.tar(c.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   v1.Time{Time: c.Created},
			CreatedBy: "drc deploy/image: drc, CA certificates, zoneinfo, user drc",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("image: append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture = c.Arch
	cf.OS = "linux"
	cf.Created = v1.Time{Time: c.Created}
	cf.Config = v1.Config{
		User:       user,
		Entrypoint: []string{"/" + binaryPath},
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		WorkingDir: "/",
		Labels: map[string]string{
			"org.opencontainers.image.title":   "drc",
			"org.opencontainers.image.version": c.Version,
			"org.opencontainers.image.source":  "https://github.com/drc-dev/drc",
		},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	return img, nil
}

// entry is one file or directory of the layer.
type entry struct {
	name string // relative, slash-separated, no trailing slash
	dir  bool
	mode int64
	data []byte
}

// fileTree collects the layer's entries; tar writes them sorted, with every
// parent directory, so the layer's bytes depend only on its contents.
type fileTree struct {
	entries map[string]entry
}

func (t *fileTree) add(e entry) {
	if t.entries == nil {
		t.entries = map[string]entry{}
	}
	t.entries[e.name] = e
	for dir := path.Dir(e.name); dir != "."; dir = path.Dir(dir) {
		if _, ok := t.entries[dir]; !ok {
			t.entries[dir] = entry{name: dir, dir: true, mode: 0o755}
		}
	}
}

func (t *fileTree) addFile(name, src string, mode int64) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("image file /%s: %w", name, err)
	}
	t.add(entry{name: name, mode: mode, data: data})
	return nil
}

// addZip unpacks the regular files of the zip at src under dir.
func (t *fileTree) addZip(dir, src string) error {
	zr, err := zip.OpenReader(src)
	if err != nil {
		return fmt.Errorf("image /%s from %s: %w", dir, src, err)
	}
	defer zr.Close()
	n := 0
	for _, f := range zr.File {
		if !f.Mode().IsRegular() {
			continue
		}
		name := path.Clean(f.Name)
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("image /%s from %s: entry %q leaves the directory", dir, src, f.Name)
		}
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("image /%s from %s: %s: %w", dir, src, f.Name, err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("image /%s from %s: %s: %w", dir, src, f.Name, err)
		}
		t.add(entry{name: dir + "/" + name, mode: 0o644, data: data})
		n++
	}
	if n == 0 {
		return fmt.Errorf("image /%s from %s: the zip holds no files", dir, src)
	}
	return nil
}

// tar writes the entries as an uncompressed tar, owned by root, all with
// mtime mtime.
func (t *fileTree) tar(mtime time.Time) ([]byte, error) {
	names := make([]string, 0, len(t.entries))
	for name := range t.entries {
		names = append(names, name)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range names {
		e := t.entries[name]
		h := &tar.Header{Name: name, Mode: e.mode, ModTime: mtime, Format: tar.FormatPAX}
		if e.dir {
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("image layer %s: %w", name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("image layer %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteArchive writes img as a tar holding an OCI image layout (oci-layout,
// index.json, blobs/sha256/...) plus Docker's manifest.json pointing at the
// same blobs: the format `docker save` writes since Docker 25, which
// `docker load`, `podman load`, `skopeo copy oci-archive:...` and
// `ctr images import` all read. tag names the image there (drc:v1.2.3, or a
// full registry reference); every tar entry has mtime mtime.
func WriteArchive(w io.Writer, img v1.Image, tag string, mtime time.Time) error {
	manifest, err := img.RawManifest()
	if err != nil {
		return fmt.Errorf("image manifest: %w", err)
	}
	manifestDigest, err := img.Digest()
	if err != nil {
		return fmt.Errorf("image manifest digest: %w", err)
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("image config: %w", err)
	}
	configDigest, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("image config digest: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("image layers: %w", err)
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("image tag %q: %w", tag, err)
	}
	// containerd wants the normalized name, as docker save writes it.
	fullName := ref.Name()
	if ref.RegistryStr() == name.DefaultRegistry {
		fullName = "docker.io/" + ref.RepositoryStr() + ":" + ref.TagStr()
	}

	blobs := map[string][]byte{blobPath(manifestDigest): manifest, blobPath(configDigest): config}
	dockerLayers := make([]string, 0, len(layers))
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return fmt.Errorf("image layer digest: %w", err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return fmt.Errorf("image layer %s: %w", d, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("image layer %s: %w", d, err)
		}
		blobs[blobPath(d)] = b
		dockerLayers = append(dockerLayers, blobPath(d))
	}

	index, err := json.Marshal(v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests: []v1.Descriptor{{
			MediaType: types.OCIManifestSchema1,
			Size:      int64(len(manifest)),
			Digest:    manifestDigest,
			Annotations: map[string]string{
				// containerd names the image by the first, OCI tools by
				// the second (the tag alone, as docker save writes it).
				"io.containerd.image.name":          fullName,
				"org.opencontainers.image.ref.name": ref.TagStr(),
			},
		}},
	})
	if err != nil {
		return fmt.Errorf("image index.json: %w", err)
	}
	dockerManifest, err := json.Marshal([]struct {
		Config   string
		RepoTags []string
		Layers   []string
	}{{Config: blobPath(configDigest), RepoTags: []string{tag}, Layers: dockerLayers}})
	if err != nil {
		return fmt.Errorf("image manifest.json: %w", err)
	}

	tw := tar.NewWriter(w)
	file := func(p string, data []byte) error {
		h := &tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("image archive %s: %w", p, err)
		}
		if _, err := tw.Write(data); err != nil {
			return fmt.Errorf("image archive %s: %w", p, err)
		}
		return nil
	}
	dir := func(p string) error {
		h := &tar.Header{Name: p + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("image archive %s: %w", p, err)
		}
		return nil
	}
	if err := file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := file("index.json", index); err != nil {
		return err
	}
	if err := file("manifest.json", dockerManifest); err != nil {
		return err
	}
	if err := dir("blobs"); err != nil {
		return err
	}
	if err := dir("blobs/sha256"); err != nil {
		return err
	}
	paths := make([]string, 0, len(blobs))
	for p := range blobs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := file(p, blobs[p]); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("image archive: %w", err)
	}
	return nil
}

func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }
