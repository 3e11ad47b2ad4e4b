// Command image writes drc's container image as an OCI image archive, with
// no Docker daemon and no base image (`make image` runs it):
//
//	go run ./deploy/image -drc bin/image/drc -tag drc:v1 -o bin/drc-image.tar
//
// The image has one layer: the static drc binary as /usr/local/bin/drc (the
// entrypoint), the CA certificates, the tz database under
// /usr/share/zoneinfo, and /etc/passwd and /etc/group naming the user drc
// (uid and gid 65532) it runs as. Its timestamps are -created, so the same
// inputs give the same digest.
//
// The archive loads with `docker load -i`, `podman load -i`, `ctr images
// import`, or pushes with `skopeo copy oci-archive:bin/drc-image.tar
// docker://REGISTRY/drc:TAG`.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fl := flag.NewFlagSet("image", flag.ContinueOnError)
	var (
		c       Contents
		out     string
		tag     string
		created string
	)
	fl.StringVar(&c.Binary, "drc", "bin/image/drc", "the static drc binary (CGO_ENABLED=0)")
	fl.StringVar(&c.CACerts, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", "PEM CA bundle to ship")
	fl.StringVar(&c.ZoneinfoZip, "zoneinfo", "", "zip of the tz database: Go's $(go env GOROOT)/lib/time/zoneinfo.zip (required)")
	fl.StringVar(&c.Version, "version", "dev", "drc's version, for the image's labels")
	fl.StringVar(&c.Arch, "arch", runtime.GOARCH, "the binary's GOARCH")
	fl.StringVar(&tag, "tag", "drc:dev", "image reference recorded in the archive")
	fl.StringVar(&created, "created", "0", "creation time and file mtimes, in seconds since the epoch (SOURCE_DATE_EPOCH)")
	fl.StringVar(&out, "o", "bin/drc-image.tar", "archive to write")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if c.ZoneinfoZip == "" {
		return fmt.Errorf("-zoneinfo is required: Go's $(go env GOROOT)/lib/time/zoneinfo.zip")
	}
	secs, err := strconv.ParseInt(created, 10, 64)
	if err != nil {
		return fmt.Errorf("-created %q: want seconds since the epoch: %w", created, err)
	}
	c.Created = time.Unix(secs, 0).UTC()

	img, err := Build(c)
	if err != nil {
		return err
	}
	// Write beside the target and rename, so an interrupted run leaves no
	// truncated archive under the final name.
	tmp, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".*")
	if err != nil {
		return fmt.Errorf("create %s: %w", out, err)
	}
	defer os.Remove(tmp.Name())
	if err := WriteArchive(tmp, img, tag, c.Created); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return fmt.Errorf("image digest: %w", err)
	}
	fmt.Printf("wrote %s: %s %s\n", out, tag, digest)
	return nil
}
