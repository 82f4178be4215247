// go_http: the Go program the Go probe tests trace (built by the tests with
// the system's Go; no modules). A server with several handlers, a second
// "backend" server it calls over HTTP, and a tiny database/sql driver.
// Prints "READY <port> <backend port> <TLS port>" once all listen on loopback;
// the TLS listener (HTTP/2 and HTTP/1.1, a self-signed certificate written to
// $GO_HTTP_TLS_CERT as PEM) exists only when that variable is set (else port 0).
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"database/sql/driver"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// tinyDriver answers every query with one row; a query containing "fail" errors.
type tinyDriver struct{}
type tinyConn struct{}
type tinyRows struct{ done bool }
type tinyResult struct{}

func (tinyDriver) Open(string) (driver.Conn, error) { return tinyConn{}, nil }

func (tinyConn) Prepare(string) (driver.Stmt, error) {
	return nil, errors.New("tiny: no prepared statements")
}
func (tinyConn) Close() error              { return nil }
func (tinyConn) Begin() (driver.Tx, error) { return nil, errors.New("tiny: no transactions") }

func (tinyConn) QueryContext(_ context.Context, q string, _ []driver.NamedValue) (driver.Rows, error) {
	if strings.Contains(q, "fail") {
		return nil, errors.New("tiny: query failed")
	}
	return &tinyRows{}, nil
}

func (tinyConn) ExecContext(_ context.Context, q string, _ []driver.NamedValue) (driver.Result, error) {
	if strings.Contains(q, "fail") {
		return nil, errors.New("tiny: exec failed")
	}
	return tinyResult{}, nil
}

func (*tinyRows) Columns() []string { return []string{"name"} }
func (*tinyRows) Close() error      { return nil }
func (r *tinyRows) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done = true
	dest[0] = "ada"
	return nil
}

func (tinyResult) LastInsertId() (int64, error) { return 1, nil }
func (tinyResult) RowsAffected() (int64, error) { return 1, nil }

// serveTLS serves h on a loopback TLS listener with a fresh self-signed
// certificate for 127.0.0.1 (PEM written to certPath); returns its port.
func serveTLS(h http.Handler, certPath string) int {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &http.Server{
		Handler:   h,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
	}
	go srv.ServeTLS(ln, "", "")
	return ln.Addr().(*net.TCPAddr).Port
}

var sink int

// stackProbe has database/sql queryDC's register layout for its query (R10/R11)
// and an error result of nil in RBX, so the re-entry test can trace it with the
// query programs. Its large frame makes its prologue the first to ask for more
// stack as the stack fills up.
//
//go:noinline
func stackProbe(a1, a2, a3, a4, a5, a6, a7 uintptr, q string) (uintptr, uintptr) {
	var buf [1024]byte
	copy(buf[:], q)
	sink += int(buf[int(a1)%len(buf)])
	return 0, 0
}

// descend calls f from `depth` frames further down the stack.
//
//go:noinline
func descend(depth int, f func()) {
	if depth == 0 {
		f()
		return
	}
	descend(depth-1, f)
}

func main() {
	sql.Register("tiny", tinyDriver{})
	db, err := sql.Open("tiny", "")
	if err != nil {
		panic(err)
	}
	backendLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	backend := http.NewServeMux()
	backend.HandleFunc("/backend", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "backend")
	})
	go http.Serve(backendLn, backend)
	backendURL := "http://" + backendLn.Addr().String()

	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "failed", http.StatusInternalServerError)
	})
	mux.HandleFunc("/users/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "user "+strings.TrimPrefix(r.URL.Path, "/users/"))
	})
	mux.HandleFunc("/call", func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(backendURL + "/backend")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Fprint(w, "called")
	})
	mux.HandleFunc("/query", func(w http.ResponseWriter, r *http.Request) {
		rows, err := db.Query("SELECT name FROM users WHERE id = ?", 1)
		if err == nil {
			for rows.Next() {
			}
			rows.Close()
		}
		db.Exec("INSERT INTO users (name) VALUES (?)", "bob")
		if _, err := db.Query("SELECT fail FROM nowhere"); err == nil {
			panic("expected an error")
		}
		fmt.Fprint(w, "queried")
	})
	mux.HandleFunc("/async", func(w http.ResponseWriter, r *http.Request) {
		// a query on a goroutine the handler starts: its span is still the request's child
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			if rows, err := db.Query("SELECT async FROM users"); err == nil {
				rows.Close()
			}
		}()
		wg.Wait()
		fmt.Fprint(w, "async")
	})
	mux.HandleFunc("/deep", func(w http.ResponseWriter, r *http.Request) {
		// stackProbe once per goroutine, each from a deeper stack: at some depths the stack
		// must grow in stackProbe's own prologue, which then runs its entry (and probe) again
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		for d := 0; d < n; d++ {
			done := make(chan struct{})
			go func(d int) {
				defer close(done)
				descend(d, func() { stackProbe(0, 0, 0, 0, 0, 0, 0, "SELECT stack") })
			}(d)
			<-done
		}
		fmt.Fprint(w, "deep")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	tlsPort := 0
	if certPath := os.Getenv("GO_HTTP_TLS_CERT"); certPath != "" {
		tlsPort = serveTLS(mux, certPath)
	}
	fmt.Printf("READY %d %d %d\n", ln.Addr().(*net.TCPAddr).Port, backendLn.Addr().(*net.TCPAddr).Port, tlsPort)
	os.Stdout.Sync()
	http.Serve(ln, mux)
}
