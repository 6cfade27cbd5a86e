package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestJWTRoundTrip(t *testing.T) {
	now := time.Unix(1700000000, 0)
	tok, err := signToken(testKey, "alice", now)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(tok, ".") != 2 || strings.ContainsAny(tok, "+/=") {
		t.Fatalf("token %q is not three base64url segments without padding", tok)
	}
	var h jwtHeader
	if err := decodeSegment(strings.Split(tok, ".")[0], &h); err != nil || h.Alg != "HS256" || h.Typ != "JWT" {
		t.Errorf("header = %+v (%v)", h, err)
	}
	c, err := verifyToken(testKey, tok, now.Add(time.Hour))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	want := claims{Sub: "alice", Iat: now.Unix(), Exp: now.Add(24 * time.Hour).Unix()}
	if c != want {
		t.Errorf("claims = %+v, want %+v", c, want)
	}
}

// The signature must be a standard HS256 one, so that other JWT tools agree
// with ours.
func TestJWTSignatureIsStandardHS256(t *testing.T) {
	tok, _ := signToken(testKey, "alice", time.Now())
	parts := strings.Split(tok, ".")
	m := hmac.New(sha256.New, testKey)
	m.Write([]byte(parts[0] + "." + parts[1]))
	if want := b64.EncodeToString(m.Sum(nil)); parts[2] != want {
		t.Errorf("signature = %s, want %s", parts[2], want)
	}
}

func TestJWTRejects(t *testing.T) {
	now := time.Now()
	good, _ := signToken(testKey, "alice", now)
	parts := strings.Split(good, ".")

	flip := []byte(parts[2])
	if flip[0] == 'A' {
		flip[0] = 'B'
	} else {
		flip[0] = 'A'
	}
	tamperedSig := parts[0] + "." + parts[1] + "." + string(flip)

	// Same header and signature, payload swapped to another user.
	otherPayload := b64.EncodeToString([]byte(`{"sub":"mallory","iat":1,"exp":99999999999}`))
	tamperedPayload := parts[0] + "." + otherPayload + "." + parts[2]

	noneHeader := b64.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	algNone := noneHeader + "." + parts[1] + "."
	algNoneWithSig := noneHeader + "." + parts[1] + "." + parts[2]

	// A token signed with our key but claiming HS512 must still be refused.
	hs512Header := b64.EncodeToString([]byte(`{"alg":"HS512","typ":"JWT"}`))
	hs512 := hs512Header + "." + parts[1] + "." + b64.EncodeToString(hs256(testKey, hs512Header+"."+parts[1]))
	lowerAlgHeader := b64.EncodeToString([]byte(`{"alg":"hs256"}`))
	lowerAlg := lowerAlgHeader + "." + parts[1] + "." + b64.EncodeToString(hs256(testKey, lowerAlgHeader+"."+parts[1]))

	expired, _ := signToken(testKey, "alice", now.Add(-tokenLifetime-time.Second))
	wrongKey, _ := signToken([]byte("other key"), "alice", now)
	noSub, _ := signClaims(testKey, claims{Iat: now.Unix(), Exp: now.Add(time.Hour).Unix()})
	noExp, _ := signClaims(testKey, claims{Sub: "alice", Iat: now.Unix()})
	badJSONPayload := b64.EncodeToString([]byte(`not json`))
	badJSON := parts[0] + "." + badJSONPayload + "." + b64.EncodeToString(hs256(testKey, parts[0]+"."+badJSONPayload))

	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"tampered signature", tamperedSig, errTokenSignature},
		{"tampered payload", tamperedPayload, errTokenSignature},
		{"wrong key", wrongKey, errTokenSignature},
		{"alg none, empty signature", algNone, errTokenAlg},
		{"alg none, copied signature", algNoneWithSig, errTokenAlg},
		{"alg HS512", hs512, errTokenAlg},
		{"alg hs256 lower case", lowerAlg, errTokenAlg},
		{"expired", expired, errTokenExpired},
		{"empty", "", errTokenMalformed},
		{"one segment", "abc", errTokenMalformed},
		{"two segments", parts[0] + "." + parts[1], errTokenMalformed},
		{"four segments", good + ".x", errTokenMalformed},
		{"header not base64", "!!!." + parts[1] + "." + parts[2], errTokenMalformed},
		{"padded signature", good + "=", errTokenMalformed},
		{"payload not JSON", badJSON, errTokenMalformed},
		{"no sub", noSub, errTokenMalformed},
		{"no exp", noExp, errTokenMalformed},
		{"too long", good + strings.Repeat("A", maxTokenLen), errTokenMalformed},
	}
	for _, c := range cases {
		_, err := verifyToken(testKey, c.token, now)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}

	if _, err := verifyToken(testKey, good, now); err != nil {
		t.Errorf("untouched token rejected: %v", err)
	}
}

func TestJWTExpiryBoundary(t *testing.T) {
	now := time.Unix(1700000000, 0)
	tok, _ := signToken(testKey, "alice", now)
	if _, err := verifyToken(testKey, tok, now.Add(tokenLifetime-time.Second)); err != nil {
		t.Errorf("one second before exp: %v", err)
	}
	if _, err := verifyToken(testKey, tok, now.Add(tokenLifetime)); !errors.Is(err, errTokenExpired) {
		t.Errorf("at exp: err = %v, want expired", err)
	}
}
