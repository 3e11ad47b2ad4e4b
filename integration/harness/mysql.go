package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// MySQL runs from the private tree deploy/local/install unpacks under the
// cache (mysql-current): never installed system-wide, it conflicts with
// MariaDB and needs a newer libc than the machine's, so every program of it
// starts through the tree's own loader and libraries.

// mysqlTree returns the unpacked MySQL tree's root.
func (e *Env) mysqlTree() (string, error) {
	tree, err := filepath.EvalSymlinks(filepath.Join(e.cache, "mysql-current"))
	if err != nil {
		return "", fmt.Errorf("mysql tree: %w (deploy/local/install unpacks it)", err)
	}
	if _, err := os.Stat(filepath.Join(tree, ".complete")); err != nil {
		return "", fmt.Errorf("mysql tree %s is incomplete: %w (rerun deploy/local/install)", tree, err)
	}
	return tree, nil
}

// mysqlCommand returns the argv that runs program (usr/sbin/mysqld,
// usr/bin/mysql) of tree through the tree's loader.
func mysqlCommand(tree, program string, args ...string) []string {
	lib := filepath.Join(tree, "usr", "lib", "x86_64-linux-gnu")
	argv := []string{filepath.Join(lib, "ld-linux-x86-64.so.2"), "--library-path", lib, filepath.Join(tree, program)}
	return append(argv, args...)
}

// mysqlBaseArgs are mysqld's options for both the template's
// --initialize-insecure and every instance.
func mysqlBaseArgs(tree, datadir string) []string {
	args := []string{
		"--no-defaults", // must be first: never read /etc/mysql
		"--basedir=" + filepath.Join(tree, "usr"),
		"--lc-messages-dir=" + filepath.Join(tree, "usr", "share", "mysql"),
		"--plugin-dir=" + filepath.Join(tree, "usr", "lib", "mysql", "plugin"),
		"--datadir=" + datadir,
		"--innodb-redo-log-capacity=16M",
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	return args
}

func (m *Server) mysqlArgs(extra []string) []string {
	tree, _ := m.env.mysqlTree() // checked when the template was built
	args := mysqlCommand(tree, "usr/sbin/mysqld", mysqlBaseArgs(tree, m.DataDir)...)
	args = append(args,
		"--tmpdir="+filepath.Join(m.dir, "tmp"),
		"--secure-file-priv="+filepath.Join(m.dir, "tmp"),
		"--socket="+m.SocketPath,
		"--pid-file="+filepath.Join(m.dir, "mysqld.pid"),
		"--log-error="+m.errLog,
		"--bind-address=127.0.0.1",
		"--port="+strconv.Itoa(m.Port),
		"--mysqlx=OFF", // the X protocol's own port would collide between instances
		"--server-id="+strconv.FormatUint(uint64(m.ServerID), 10),
		"--log-bin=mysql-bin",
		"--relay-log=mysql-relay-bin",
		"--gtid-mode=ON",
		"--enforce-gtid-consistency=ON",
		"--binlog-format=ROW",
		"--binlog-row-image=FULL",
		"--binlog-row-metadata=FULL",
		"--log-replica-updates=ON",
		"--skip-name-resolve",
		"--character-set-server=utf8mb4",
		"--max-connections=500",
		"--max-allowed-packet=64M",
		"--innodb-buffer-pool-size=128M",
		"--performance-schema-max-table-instances=400",
		// As for MariaDB: survives a killed mysqld, not an OS crash.
		"--innodb-flush-log-at-trx-commit=2",
		"--innodb-doublewrite=OFF",
		"--sync-binlog=0",
	)
	return append(args, extra...)
}

// mysqlTemplate returns a MySQL datadir with the system tables and the drc
// user, built once per machine and server version under the cache directory.
func (e *Env) mysqlTemplate() (string, error) {
	e.templateMu.Lock()
	defer e.templateMu.Unlock()
	if e.mysqlTmpl != "" || e.mysqlTmplErr != nil {
		return e.mysqlTmpl, e.mysqlTmplErr
	}
	e.mysqlTmpl, e.mysqlTmplErr = e.buildMySQLTemplate()
	return e.mysqlTmpl, e.mysqlTmplErr
}

func (e *Env) buildMySQLTemplate() (string, error) {
	tree, err := e.mysqlTree()
	if err != nil {
		return "", err
	}
	version, err := os.ReadFile(filepath.Join(tree, ".complete"))
	if err != nil {
		return "", fmt.Errorf("mysql template: %w", err)
	}
	return cachedTemplate(e.cache, "mysql", version, func(tmp string) error {
		// The drc user gets caching_sha2_password, MySQL's default: the
		// plugin drc must handle.
		initSQL := filepath.Join(tmp, "init.sql")
		if err := os.WriteFile(initSQL, []byte(drcUserSQL()), 0o600); err != nil {
			return err
		}
		tmpData := filepath.Join(tmp, "data")
		args := mysqlCommand(tree, "usr/sbin/mysqld", mysqlBaseArgs(tree, tmpData)...)
		args = append(args, "--initialize-insecure", "--init-file="+initSQL, "--log-error="+filepath.Join(tmp, "init.log"))
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("mysqld --initialize-insecure: %w\n%s\n%s", err, lastLines(string(out), 20), logTail(filepath.Join(tmp, "init.log"), 30))
		}
		os.Remove(filepath.Join(tmpData, "auto.cnf")) // each instance makes its own server_uuid
		return nil
	})
}
