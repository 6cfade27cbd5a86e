package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer lets the test read the log while run() writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRunFatalMongoURI(t *testing.T) {
	var stderr syncBuffer
	code := run(context.Background(), env(map[string]string{
		"PORT":        "0",
		"MONGODB_URI": "http://u:s3cret@h/db",
	}), &stderr)
	if code != 1 {
		t.Fatalf("exit status = %d, want 1", code)
	}
	out := stderr.String()
	want := `tasky: fatal: MONGODB_URI is invalid: scheme must be mongodb:// or mongodb+srv:// (got "http"); fix the variable and restart` + "\n"
	if out != want {
		t.Errorf("stderr = %q, want exactly one line %q", out, want)
	}
	if strings.Contains(out, "s3cret") {
		t.Error("fatal line leaks the password")
	}
}

func TestRunFatalPort(t *testing.T) {
	var stderr syncBuffer
	if code := run(context.Background(), env(map[string]string{"PORT": "nope"}), &stderr); code != 1 {
		t.Fatalf("exit status = %d, want 1", code)
	}
	if n := strings.Count(stderr.String(), "\n"); n != 1 || !strings.Contains(stderr.String(), "fatal: PORT is invalid") {
		t.Errorf("stderr = %q, want one fatal PORT line", stderr.String())
	}
}

var listenRE = regexp.MustCompile(`tasky \S+ listening on :(\d+) \(storage: memory\)`)

// startRun runs the service on a free port and returns its base URL, the
// log, a cancel func standing in for SIGTERM, and the exit status channel.
func startRun(t *testing.T, vars map[string]string) (string, *syncBuffer, context.CancelFunc, <-chan int) {
	t.Helper()
	vars["PORT"] = "0"
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, env(vars), &stderr) }()

	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if m := listenRE.FindStringSubmatch(stderr.String()); m != nil {
			return "http://127.0.0.1:" + m[1], &stderr, cancel, done
		}
		select {
		case code := <-done:
			t.Fatalf("run exited early with %d: %s", code, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	t.Fatalf("service did not report listening: %s", stderr.String())
	return "", nil, nil, nil
}

func TestRunServesAndShutsDown(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	const secret = "a-jwt-secret-that-must-not-be-logged"
	base, stderr, cancel, done := startRun(t, map[string]string{
		"ASSETS_DIR":  dir,
		"JWT_SECRET":  secret,
		"MONGODB_URI": "mongodb://app:dbpass@mongo:27017/tasky",
	})
	defer cancel()

	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello" {
		t.Errorf("GET / = %d %q", resp.StatusCode, body)
	}

	resp, err = http.Post(base+"/api/login", "application/json", strings.NewReader(`{"username":"a","password":"b"}`))
	if err != nil {
		t.Fatal(err)
	}
	var lr struct{ Token string }
	_ = json.NewDecoder(resp.Body).Decode(&lr)
	resp.Body.Close()
	// The token must be signed with JWT_SECRET, not a random key.
	if _, err := verifyToken([]byte(secret), lr.Token, time.Now()); err != nil {
		t.Errorf("token not signed with JWT_SECRET: %v", err)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit status = %d, want 0", code)
		}
	case <-time.After(12 * time.Second):
		t.Fatal("run did not return after cancel")
	}

	out := stderr.String()
	for _, want := range []string{
		"tasky: MONGODB_URI is set (mongodb://app:xxxxx@mongo:27017/tasky)",
		"storage is in memory",
		"tasky: GET / 200 ",
		"tasky: POST /api/login 200 ",
		"tasky: shutting down",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, leak := range []string{secret, "dbpass", "JWT_SECRET not set"} {
		if strings.Contains(out, leak) {
			t.Errorf("log contains %q:\n%s", leak, out)
		}
	}
}

func TestRunRandomKeyWarning(t *testing.T) {
	_, stderr, cancel, done := startRun(t, map[string]string{"ASSETS_DIR": t.TempDir()})
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit status = %d", code)
	}
	out := stderr.String()
	const warn = "JWT_SECRET not set: using a random per-process key; sessions end when the process restarts"
	if strings.Count(out, warn) != 1 {
		t.Errorf("want the warning exactly once:\n%s", out)
	}
	if !strings.Contains(out, "tasky: MONGODB_URI not set: storage is in memory") {
		t.Errorf("log lacks the in-memory storage line:\n%s", out)
	}
}
