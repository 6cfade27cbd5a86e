package main

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var testKey = []byte("test-key-0123456789abcdef0123456")

func newTestServer(t *testing.T) (*server, http.Handler) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>tasky test page</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.js"), []byte("console.log(1)"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "private"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "private", "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newServer(testKey, dir, log.New(io.Discard, "", 0))
	return s, s.routes()
}

func do(t *testing.T, h http.Handler, method, path, body, token string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decode(t *testing.T, rec *httptest.ResponseRecorder, v interface{}) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("body %q is not JSON: %v", rec.Body.String(), err)
	}
}

// wantError checks the status and that the body is {"error": "..."}.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int) string {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d (body %s)", rec.Code, status, rec.Body.String())
	}
	var e map[string]string
	decode(t, rec, &e)
	if e["error"] == "" || len(e) != 1 {
		t.Fatalf("error body = %s, want {\"error\": \"...\"}", rec.Body.String())
	}
	return e["error"]
}

func login(t *testing.T, h http.Handler, user string) string {
	t.Helper()
	rec := do(t, h, "POST", "/api/login", `{"username":"`+user+`","password":"pw"}`, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("login status = %d, body %s", rec.Code, rec.Body.String())
	}
	var resp struct {
		Token string `json:"token"`
	}
	decode(t, rec, &resp)
	if resp.Token == "" {
		t.Fatal("login returned no token")
	}
	return resp.Token
}

func TestHealthz(t *testing.T) {
	_, h := newTestServer(t)
	rec := do(t, h, "GET", "/healthz", "", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	var got map[string]interface{}
	decode(t, rec, &got)
	if got["status"] != "ok" || got["version"] != version || got["storage"] != "memory" {
		t.Errorf("healthz = %v", got)
	}
	up, ok := got["uptime_seconds"].(float64)
	if !ok || up < 0 {
		t.Errorf("uptime_seconds = %v (%T), want a non-negative number", got["uptime_seconds"], got["uptime_seconds"])
	}
	if len(got) != 4 {
		t.Errorf("healthz has fields %v, want exactly status, version, uptime_seconds, storage", got)
	}

	wantError(t, do(t, h, "POST", "/healthz", "", ""), http.StatusMethodNotAllowed)
}

// HEAD goes through a real server so the body is really dropped, as it is
// for the container's health check.
func TestHeadRequests(t *testing.T) {
	_, h := newTestServer(t)
	ts := httptest.NewServer(h)
	defer ts.Close()
	for _, path := range []string{"/", "/healthz"} {
		resp, err := http.Head(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) != 0 {
			t.Errorf("HEAD %s = %d with %d body bytes, want 200 and none", path, resp.StatusCode, len(body))
		}
	}
}

func TestStaticAssets(t *testing.T) {
	_, h := newTestServer(t)

	rec := do(t, h, "GET", "/", "", "")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "tasky test page") {
		t.Fatalf("GET / = %d %q, want the index page", rec.Code, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("GET / Content-Type = %q", ct)
	}
	if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Error("missing X-Content-Type-Options: nosniff")
	}

	rec = do(t, h, "GET", "/app.js", "", "")
	if rec.Code != http.StatusOK || rec.Body.String() != "console.log(1)" {
		t.Errorf("GET /app.js = %d %q", rec.Code, rec.Body.String())
	}
	if rec := do(t, h, "GET", "/missing.css", "", ""); rec.Code != http.StatusNotFound {
		t.Errorf("GET /missing.css = %d, want 404", rec.Code)
	}
	// A directory without index.html must not be listed.
	for _, p := range []string{"/private/", "/private"} {
		rec := do(t, h, "GET", p, "", "")
		if rec.Code != http.StatusNotFound || strings.Contains(rec.Body.String(), "notes.txt") {
			t.Errorf("GET %s = %d %q, want 404 without a listing", p, rec.Code, rec.Body.String())
		}
	}
	if rec := do(t, h, "GET", "/private/notes.txt", "", ""); rec.Code != http.StatusOK {
		t.Errorf("GET /private/notes.txt = %d, want 200", rec.Code)
	}
	wantError(t, do(t, h, "POST", "/", "x", ""), http.StatusMethodNotAllowed)
}

func TestShippedAssets(t *testing.T) {
	for _, name := range []string{"index.html", "app.js", "style.css"} {
		b, err := os.ReadFile(filepath.Join("assets", name))
		if err != nil {
			t.Fatalf("assets/%s: %v", name, err)
		}
		// The page must work offline and under the strict CSP.
		if strings.Contains(string(b), "http://") || strings.Contains(string(b), "https://") {
			t.Errorf("assets/%s refers to an external URL", name)
		}
	}
	s := newServer(testKey, "assets", log.New(io.Discard, "", 0))
	rec := do(t, s.routes(), "GET", "/", "", "")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `src="app.js"`) {
		t.Errorf("GET / from assets/ = %d, want the page that loads app.js", rec.Code)
	}
}

func TestLogin(t *testing.T) {
	_, h := newTestServer(t)
	tok := login(t, h, "alice")
	c, err := verifyToken(testKey, tok, time.Now())
	if err != nil {
		t.Fatalf("issued token does not verify: %v", err)
	}
	if c.Sub != "alice" || c.Exp-c.Iat != int64(tokenLifetime.Seconds()) {
		t.Errorf("claims = %+v, want sub alice and a 24 h lifetime", c)
	}

	for _, body := range []string{
		``,
		`not json`,
		`{"username":"alice"}`,
		`{"password":"pw"}`,
		`{"username":"   ","password":"pw"}`,
		`{"username":"alice","password":""}`,
		`{"username":"alice","password":"pw"} {"again":1}`,
		`{"username":"` + strings.Repeat("a", 65) + `","password":"pw"}`,
	} {
		rec := do(t, h, "POST", "/api/login", body, "")
		if rec.Code != http.StatusBadRequest {
			t.Errorf("login with %q = %d, want 400", body, rec.Code)
			continue
		}
		wantError(t, rec, http.StatusBadRequest)
	}
	big := `{"username":"a","password":"` + strings.Repeat("p", maxBodyBytes) + `"}`
	wantError(t, do(t, h, "POST", "/api/login", big, ""), http.StatusRequestEntityTooLarge)

	rec := do(t, h, "GET", "/api/login", "", "")
	wantError(t, rec, http.StatusMethodNotAllowed)
	if rec.Header().Get("Allow") != "POST" {
		t.Errorf("Allow = %q, want POST", rec.Header().Get("Allow"))
	}
}

func TestTodoCRUD(t *testing.T) {
	_, h := newTestServer(t)
	tok := login(t, h, "alice")

	rec := do(t, h, "GET", "/api/todos", "", tok)
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Fatalf("empty list = %d %q, want 200 []", rec.Code, rec.Body.String())
	}

	rec = do(t, h, "POST", "/api/todos", `{"title":"  buy milk  "}`, tok)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create = %d %s", rec.Code, rec.Body.String())
	}
	var created map[string]interface{}
	decode(t, rec, &created)
	for _, f := range []string{"id", "title", "done", "created_at"} {
		if _, ok := created[f]; !ok {
			t.Errorf("created todo lacks %q: %v", f, created)
		}
	}
	if created["title"] != "buy milk" || created["done"] != false {
		t.Errorf("created = %v", created)
	}
	if _, err := time.Parse(time.RFC3339, created["created_at"].(string)); err != nil {
		t.Errorf("created_at %v is not RFC 3339", created["created_at"])
	}
	var first todo
	decode(t, rec, &first)
	do(t, h, "POST", "/api/todos", `{"title":"walk dog"}`, tok)

	var list []todo
	decode(t, do(t, h, "GET", "/api/todos", "", tok), &list)
	if len(list) != 2 || list[0].Title != "buy milk" || list[1].Title != "walk dog" {
		t.Fatalf("list = %+v", list)
	}

	id := "/api/todos/" + itoa(first.ID)
	var got todo
	rec = do(t, h, "PATCH", id, `{"done":true}`, tok)
	decode(t, rec, &got)
	if rec.Code != http.StatusOK || !got.Done || got.Title != "buy milk" {
		t.Fatalf("patch done = %d %+v", rec.Code, got)
	}
	rec = do(t, h, "PATCH", id, `{"title":"buy oat milk"}`, tok)
	decode(t, rec, &got)
	if !got.Done || got.Title != "buy oat milk" {
		t.Errorf("patch title = %+v, want done kept and title changed", got)
	}
	decode(t, do(t, h, "GET", id, "", tok), &got)
	if got.Title != "buy oat milk" {
		t.Errorf("GET after patch = %+v", got)
	}
	wantError(t, do(t, h, "PATCH", id, `{}`, tok), http.StatusBadRequest)
	wantError(t, do(t, h, "PATCH", id, `{"title":""}`, tok), http.StatusBadRequest)
	wantError(t, do(t, h, "PATCH", id, `{"done":"yes"}`, tok), http.StatusBadRequest)

	rec = do(t, h, "DELETE", id, "", tok)
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Fatalf("delete = %d %q, want 204 and no body", rec.Code, rec.Body.String())
	}
	wantError(t, do(t, h, "DELETE", id, "", tok), http.StatusNotFound)
	wantError(t, do(t, h, "PATCH", id, `{"done":true}`, tok), http.StatusNotFound)
	decode(t, do(t, h, "GET", "/api/todos", "", tok), &list)
	if len(list) != 1 || list[0].Title != "walk dog" {
		t.Errorf("list after delete = %+v", list)
	}

	wantError(t, do(t, h, "POST", "/api/todos", `{"title":"   "}`, tok), http.StatusBadRequest)
	wantError(t, do(t, h, "POST", "/api/todos", `{"title":"`+strings.Repeat("x", maxTitleLen+1)+`"}`, tok), http.StatusBadRequest)
	wantError(t, do(t, h, "POST", "/api/todos", `[`, tok), http.StatusBadRequest)
}

func TestTodosArePerUser(t *testing.T) {
	_, h := newTestServer(t)
	alice, bob := login(t, h, "alice"), login(t, h, "bob")
	var created todo
	decode(t, do(t, h, "POST", "/api/todos", `{"title":"secret plan"}`, alice), &created)

	var list []todo
	decode(t, do(t, h, "GET", "/api/todos", "", bob), &list)
	if len(list) != 0 {
		t.Errorf("bob sees alice's todos: %+v", list)
	}
	path := "/api/todos/" + itoa(created.ID)
	wantError(t, do(t, h, "GET", path, "", bob), http.StatusNotFound)
	wantError(t, do(t, h, "PATCH", path, `{"done":true}`, bob), http.StatusNotFound)
	wantError(t, do(t, h, "DELETE", path, "", bob), http.StatusNotFound)
	if rec := do(t, h, "GET", path, "", alice); rec.Code != http.StatusOK {
		t.Errorf("alice lost her todo after bob's attempts: %d", rec.Code)
	}
}

func TestTodoLimit(t *testing.T) {
	s, h := newTestServer(t)
	for i := 0; i < maxTodosPerUser; i++ {
		if _, err := s.store.create("alice", "t", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	wantError(t, do(t, h, "POST", "/api/todos", `{"title":"one more"}`, login(t, h, "alice")), http.StatusConflict)
}

func TestAuthRequired(t *testing.T) {
	s, h := newTestServer(t)
	good := login(t, h, "alice")
	otherKey, _ := signToken([]byte("another key"), "alice", time.Now())
	expired, _ := signToken(testKey, "alice", time.Now().Add(-25*time.Hour))
	cases := map[string]string{
		"no header":   "",
		"garbage":     "Bearer not-a-token",
		"wrong key":   "Bearer " + otherKey,
		"expired":     "Bearer " + expired,
		"basic auth":  "Basic YWxpY2U6cHc=",
		"bare token":  good,
		"empty token": "Bearer ",
	}
	for name, auth := range cases {
		for _, r := range []struct{ method, path, body string }{
			{"GET", "/api/todos", ""},
			{"POST", "/api/todos", `{"title":"x"}`},
			{"PATCH", "/api/todos/1", `{"done":true}`},
			{"DELETE", "/api/todos/1", ""},
		} {
			req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			wantError(t, rec, http.StatusUnauthorized)
			if rec.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s (%s): no WWW-Authenticate header", r.method, r.path, name)
			}
		}
	}
	if n := len(s.store.list("alice")); n != 0 {
		t.Errorf("unauthenticated requests created %d todos", n)
	}

	// Scheme name is case-insensitive (RFC 7235).
	req := httptest.NewRequest("GET", "/api/todos", nil)
	req.Header.Set("Authorization", "bearer "+good)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("lower-case bearer = %d, want 200", rec.Code)
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	_, h := newTestServer(t)
	tok := login(t, h, "alice")
	for _, p := range []string{"/api/todos/999", "/api/todos/abc", "/api/todos/", "/api/todos/1/extra", "/api/todos/-1"} {
		wantError(t, do(t, h, "GET", p, "", tok), http.StatusNotFound)
	}
	wantError(t, do(t, h, "GET", "/api/nope", "", tok), http.StatusNotFound)

	for _, c := range []struct{ method, path, allow string }{
		{"PUT", "/api/todos", "GET, POST"},
		{"DELETE", "/api/todos", "GET, POST"},
		{"POST", "/api/todos/1", "GET, PATCH, DELETE"},
		{"PUT", "/api/todos/1", "GET, PATCH, DELETE"},
	} {
		rec := do(t, h, c.method, c.path, "", tok)
		wantError(t, rec, http.StatusMethodNotAllowed)
		if got := rec.Header().Get("Allow"); got != c.allow {
			t.Errorf("%s %s Allow = %q, want %q", c.method, c.path, got, c.allow)
		}
	}
}

func TestRequestLog(t *testing.T) {
	var buf strings.Builder
	s := newServer(testKey, t.TempDir(), log.New(&buf, "", 0))
	h := s.routes()
	req := httptest.NewRequest("POST", "/api/login?token=leak", strings.NewReader(`{"username":"alice","password":"hunter2"}`))
	req.Header.Set("Authorization", "Bearer header-secret")
	h.ServeHTTP(httptest.NewRecorder(), req)
	do(t, h, "GET", "/api/todos", "", "")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log has %d lines, want one per request: %q", len(lines), buf.String())
	}
	if !strings.HasPrefix(lines[0], "tasky: POST /api/login 200 ") || !strings.HasSuffix(lines[0], "ms") {
		t.Errorf("log line = %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], "tasky: GET /api/todos 401 ") {
		t.Errorf("log line = %q", lines[1])
	}
	for _, secret := range []string{"hunter2", "header-secret", "leak", "alice"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("request log contains %q: %q", secret, buf.String())
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
