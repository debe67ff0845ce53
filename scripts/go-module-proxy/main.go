// Command go-module-proxy publishes a Go module directory at a version into a
// folder laid out as a Go module proxy (GOPROXY=file:///that/folder), exactly
// as a proxy would serve a tagged release: <module>/@v/list, <version>.info,
// <version>.mod and <version>.zip, the zip made by golang.org/x/mod/zip (the
// go command's own rules for what a module zip holds).
//
//	go run . -dir ../../clients/go -version v1.0.0 -out /tmp/goproxy
//
// The service repository uses it to prove that the Go client is importable by
// its module path (scripts/lib/client-packages.ts).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

func main() {
	dir := flag.String("dir", "", "the module's directory (holding go.mod)")
	version := flag.String("version", "", "the version to publish, e.g. v1.0.0")
	out := flag.String("out", "", "the proxy folder to write into")
	flag.Parse()
	if err := publish(*dir, *version, *out); err != nil {
		fmt.Fprintln(os.Stderr, "go-module-proxy:", err)
		os.Exit(1)
	}
}

func publish(dir, version, out string) error {
	if dir == "" || version == "" || out == "" {
		return fmt.Errorf("-dir, -version and -out are required")
	}
	goMod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return err
	}
	path := modfile.ModulePath(goMod)
	if path == "" {
		return fmt.Errorf("%s/go.mod names no module", dir)
	}
	release := module.Version{Path: path, Version: version}
	if err := module.Check(path, version); err != nil {
		return err
	}
	escaped, err := module.EscapePath(path)
	if err != nil {
		return err
	}
	versions := filepath.Join(out, escaped, "@v")
	if err := os.MkdirAll(versions, 0o755); err != nil {
		return err
	}
	if err := writeZip(filepath.Join(versions, version+".zip"), release, dir); err != nil {
		return err
	}
	info, err := json.Marshal(map[string]string{"Version": version, "Time": time.Now().UTC().Format(time.RFC3339)})
	if err != nil {
		return err
	}
	files := map[string][]byte{version + ".mod": goMod, version + ".info": info, "list": []byte(version + "\n")}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(versions, name), content, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func writeZip(file string, release module.Version, dir string) error {
	zipFile, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := modzip.CreateFromDir(zipFile, release, dir); err != nil {
		zipFile.Close()
		return err
	}
	return zipFile.Close()
}
