package main

import (
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.port != "8080" || cfg.assetsDir != "assets" || cfg.jwtSecret != nil || cfg.mongoRedacted != "" {
		t.Errorf("defaults = %+v", cfg)
	}
}

func TestLoadConfigFromEnv(t *testing.T) {
	cfg, err := loadConfig(env(map[string]string{
		"PORT":        "9090",
		"ASSETS_DIR":  "/srv/assets",
		"JWT_SECRET":  "k",
		"MONGODB_URI": "mongodb://u:pw@db:27017/tasky",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.port != "9090" || cfg.assetsDir != "/srv/assets" || string(cfg.jwtSecret) != "k" {
		t.Errorf("cfg = %+v", cfg)
	}
	if cfg.mongoRedacted != "mongodb://u:xxxxx@db:27017/tasky" {
		t.Errorf("mongoRedacted = %q", cfg.mongoRedacted)
	}
}

func TestLoadConfigBadPort(t *testing.T) {
	for _, p := range []string{"http", "-1", "65536", "80a"} {
		_, err := loadConfig(env(map[string]string{"PORT": p}))
		if err == nil || !strings.HasPrefix(err.Error(), "PORT is invalid") {
			t.Errorf("PORT=%q: err = %v", p, err)
		}
	}
}

func TestMongoURIValid(t *testing.T) {
	for _, raw := range []string{
		"mongodb://localhost",
		"mongodb://localhost:27017",
		"mongodb://db/tasky",
		"mongodb://user:pass@db:27017/tasky?authSource=admin",
		"mongodb://user@db",
		"mongodb://h1:27017,h2:27018,h3/tasky?replicaSet=rs0",
		"mongodb://h1,h2:27017",
		"mongodb://[::1]:27017",
		"mongodb://%2Ftmp%2Fmongodb-27017.sock",
		"mongodb+srv://user:pass@cluster0.example.net/tasky?retryWrites=true",
		"MONGODB://localhost",
		"  mongodb://localhost\n",
	} {
		if _, err := loadConfig(env(map[string]string{"MONGODB_URI": raw})); err != nil {
			t.Errorf("%q rejected: %v", raw, err)
		}
	}
}

func TestMongoURIInvalid(t *testing.T) {
	const pw = "s3cret"
	cases := []struct{ raw, want string }{
		{"http://u:s3cret@h/db", `scheme must be mongodb:// or mongodb+srv:// (got "http")`},
		{"postgres://u:s3cret@h/db", `(got "postgres")`},
		{"u:s3cret@h/db", "no scheme found"},
		{"s3cret", "no scheme found"},
		{"mongodb:u:s3cret@h", "no scheme found"},
		{"mongodb:///db", "no host given"},
		{"mongodb://u:s3cret@/db", "no host given"},
		{"mongodb://u:s3cret@", "no host given"},
		{"mongodb://u:s3cret@h:port/db", "host list is malformed"},
		{"mongodb://u:s3cret@h:0", "host list is malformed"},
		{"mongodb://u:s3cret@h:70000", "host list is malformed"},
		{"mongodb://u:s3cret@h1,,h2", "host list is malformed"},
		{"mongodb://u:s3cret@h:", "host list is malformed"},
		// An unescaped '/' in the password cuts the authority short; it must
		// still fail without echoing anything.
		{"mongodb://u:s3/cret@h/db", "host list is malformed"},
		{"mongodb://u:s3cret@h db", "spaces or control characters"},
		{"mongodb+srv://u:s3cret@h1,h2", "exactly one host"},
		{"mongodb+srv://u:s3cret@h:27017", "exactly one host"},
		// A "scheme" that could be anything is not quoted.
		{"s3cret!://h", "scheme must be mongodb:// or mongodb+srv://"},
		{"://u:s3cret@h", "scheme must be mongodb:// or mongodb+srv://"},
	}
	for _, c := range cases {
		_, err := loadConfig(env(map[string]string{"MONGODB_URI": c.raw}))
		if err == nil {
			t.Errorf("%q accepted", c.raw)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "MONGODB_URI is invalid: ") || !strings.Contains(msg, c.want) {
			t.Errorf("%q: message %q, want it to contain %q", c.raw, msg, c.want)
		}
		if strings.Contains(msg, pw) || strings.Contains(msg, "cret") {
			t.Errorf("%q: message leaks the password: %q", c.raw, msg)
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("%q: message spans lines: %q", c.raw, msg)
		}
	}
}

func TestRedactMongoURI(t *testing.T) {
	cases := map[string]string{
		"mongodb://user:pass@db:27017/tasky":        "mongodb://user:xxxxx@db:27017/tasky",
		"mongodb://user@db/tasky":                   "mongodb://user@db/tasky",
		"mongodb://db":                              "mongodb://db",
		"mongodb://:pass@db":                        "mongodb://:xxxxx@db",
		"mongodb://u:p%40ss@h1,h2:27018/x":          "mongodb://u:xxxxx@h1,h2:27018/x",
		"mongodb://u:p@ss@h":                        "mongodb://u:xxxxx@h",
		"mongodb+srv://u:pw@c.example.net/?w=major": "mongodb+srv://u:xxxxx@c.example.net/?w=major",
		"mongodb://h/?tls=true&tlsCertificateKeyFilePassword=pw&authSource=admin":              "mongodb://h/?tls=true&tlsCertificateKeyFilePassword=xxxxx&authSource=admin",
		"mongodb://h/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:tok": "mongodb://h/?authMechanism=MONGODB-AWS&authMechanismProperties=xxxxx",
		"http://u:pw@h":    "(unparseable MONGODB_URI, not shown)",
		"not a uri at all": "(unparseable MONGODB_URI, not shown)",
	}
	for raw, want := range cases {
		if got := redactMongoURI(raw); got != want {
			t.Errorf("redactMongoURI(%q) = %q, want %q", raw, got, want)
		}
	}
}
