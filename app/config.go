package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

type config struct {
	port      string
	assetsDir string
	// jwtSecret is nil when JWT_SECRET is unset; run() then picks a random key.
	jwtSecret []byte
	// mongoRedacted is the redacted MONGODB_URI, or "" when it is unset.
	// The raw value is deliberately not kept: nothing uses it yet, and what
	// is not kept cannot leak into a log line.
	mongoRedacted string
}

// loadConfig reads the environment through getenv so tests need not touch
// the process environment. Its errors never quote secret values.
func loadConfig(getenv func(string) string) (config, error) {
	cfg := config{port: "8080", assetsDir: "assets"}

	if p := strings.TrimSpace(getenv("PORT")); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 65535 {
			return config{}, fmt.Errorf("PORT is invalid: must be a number from 0 to 65535 (got %q)", p)
		}
		cfg.port = strconv.Itoa(n)
	}
	if d := getenv("ASSETS_DIR"); d != "" {
		cfg.assetsDir = d
	}
	if s := getenv("JWT_SECRET"); s != "" {
		cfg.jwtSecret = []byte(s)
	}
	if raw := strings.TrimSpace(getenv("MONGODB_URI")); raw != "" {
		u, err := parseMongoURI(raw)
		if err != nil {
			return config{}, fmt.Errorf("MONGODB_URI is invalid: %v", err)
		}
		cfg.mongoRedacted = u.redacted()
	}
	return cfg, nil
}

// mongoURI holds the pieces of a MongoDB connection string that matter for
// validation and redaction. url.Parse is not used: it rejects valid seed
// lists such as "h1:27017,h2", and its errors quote the whole raw URL,
// password included.
type mongoURI struct {
	scheme   string
	user     string
	hasPass  bool
	hosts    string
	path     string
	rawQuery string
}

const mongoForm = "mongodb://[user:password@]host[:port][,host[:port]...][/database][?options]"

// parseMongoURI validates raw. Error messages are built from fixed text and,
// at most, a scheme that has been checked to look like one, so they can be
// logged without revealing credentials.
func parseMongoURI(raw string) (mongoURI, error) {
	for _, r := range raw {
		if r < 0x21 || r == 0x7f {
			return mongoURI{}, errors.New("it contains spaces or control characters")
		}
	}
	i := strings.Index(raw, "://")
	if i < 0 {
		return mongoURI{}, errors.New("it must start with mongodb:// or mongodb+srv:// (no scheme found)")
	}
	scheme := strings.ToLower(raw[:i])
	if scheme != "mongodb" && scheme != "mongodb+srv" {
		if looksLikeScheme(scheme) {
			return mongoURI{}, fmt.Errorf("scheme must be mongodb:// or mongodb+srv:// (got %q)", scheme)
		}
		return mongoURI{}, errors.New("scheme must be mongodb:// or mongodb+srv://")
	}
	u := mongoURI{scheme: scheme}

	rest := raw[i+3:]
	authority := rest
	if j := strings.IndexAny(rest, "/?"); j >= 0 {
		authority, rest = rest[:j], rest[j:]
	} else {
		rest = ""
	}
	// The last '@' ends the user info, so an unescaped '@' in a password
	// still lands on the redacted side.
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		userinfo := authority[:at]
		authority = authority[at+1:]
		u.user = userinfo
		if c := strings.Index(userinfo, ":"); c >= 0 {
			u.user, u.hasPass = userinfo[:c], true
		}
	}
	if authority == "" {
		return mongoURI{}, errors.New("no host given (expected " + mongoForm + ")")
	}
	hosts := strings.Split(authority, ",")
	for _, h := range hosts {
		if !validHostPort(h) {
			return mongoURI{}, errors.New("the host list is malformed (expected " + mongoForm + ")")
		}
	}
	if scheme == "mongodb+srv" && (len(hosts) != 1 || strings.Contains(strings.TrimPrefix(hosts[0], "["), ":")) {
		return mongoURI{}, errors.New("mongodb+srv:// takes exactly one host name and no port")
	}
	u.hosts = authority

	if q := strings.Index(rest, "?"); q >= 0 {
		u.path, u.rawQuery = rest[:q], rest[q+1:]
	} else {
		u.path = rest
	}
	return u, nil
}

func looksLikeScheme(s string) bool {
	if s == "" || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

func validHostPort(h string) bool {
	host, port := h, ""
	if strings.HasPrefix(h, "[") {
		end := strings.Index(h, "]")
		if end < 2 {
			return false
		}
		host, port = h[1:end], h[end+1:]
		if port != "" && !strings.HasPrefix(port, ":") {
			return false
		}
		port = strings.TrimPrefix(port, ":")
		for _, r := range host {
			if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F' || r == ':' || r == '.' || r == '%') {
				return false
			}
		}
	} else {
		if c := strings.LastIndex(h, ":"); c >= 0 {
			host, port = h[:c], h[c+1:]
			if port == "" {
				return false
			}
		}
		if host == "" {
			return false
		}
		// '%' allows percent-encoded Unix socket paths.
		for _, r := range host {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' || r == '%') {
				return false
			}
		}
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	return true
}

// sensitiveOptions are connection-string options whose values are secrets
// (e.g. tlsCertificateKeyFilePassword, AWS_SESSION_TOKEN in
// authMechanismProperties).
var sensitiveOptions = []string{"password", "secret", "token", "key", "authmechanismproperties"}

const redactedMark = "xxxxx"

// redacted renders the URI with the password and secret-looking option
// values replaced, for log lines.
func (u mongoURI) redacted() string {
	var b strings.Builder
	b.WriteString(u.scheme + "://")
	if u.user != "" || u.hasPass {
		b.WriteString(u.user)
		if u.hasPass {
			b.WriteString(":" + redactedMark)
		}
		b.WriteString("@")
	}
	b.WriteString(u.hosts)
	b.WriteString(u.path)
	if u.rawQuery != "" {
		opts := strings.Split(u.rawQuery, "&")
		for i, o := range opts {
			name := o
			if eq := strings.Index(o, "="); eq >= 0 {
				name = o[:eq]
			}
			lower := strings.ToLower(name)
			for _, s := range sensitiveOptions {
				if strings.Contains(lower, s) {
					opts[i] = name + "=" + redactedMark
					break
				}
			}
		}
		b.WriteString("?" + strings.Join(opts, "&"))
	}
	return b.String()
}

// redactMongoURI is the form to use for any MONGODB_URI that reaches a log.
// An unparseable value is not echoed at all.
func redactMongoURI(raw string) string {
	u, err := parseMongoURI(strings.TrimSpace(raw))
	if err != nil {
		return "(unparseable MONGODB_URI, not shown)"
	}
	return u.redacted()
}
