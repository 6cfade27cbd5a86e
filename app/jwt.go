package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// A minimal HS256-only JWT: the service signs and verifies its own tokens,
// so accepting exactly one algorithm removes the classic alg-confusion and
// alg "none" attacks instead of defending against them case by case.

const (
	tokenLifetime = 24 * time.Hour
	// maxTokenLen bounds the work an attacker can make us do per request.
	maxTokenLen = 4096
)

var (
	errTokenMalformed = errors.New("token is malformed")
	errTokenAlg       = errors.New("token algorithm must be HS256")
	errTokenSignature = errors.New("token signature is invalid")
	errTokenExpired   = errors.New("token has expired")
)

type claims struct {
	Sub string `json:"sub"`
	Iat int64  `json:"iat"`
	Exp int64  `json:"exp"`
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ,omitempty"`
}

var b64 = base64.RawURLEncoding

// signToken issues a token for sub that is valid for tokenLifetime from now.
func signToken(key []byte, sub string, now time.Time) (string, error) {
	return signClaims(key, claims{Sub: sub, Iat: now.Unix(), Exp: now.Add(tokenLifetime).Unix()})
}

func signClaims(key []byte, c claims) (string, error) {
	h, err := json.Marshal(jwtHeader{Alg: "HS256", Typ: "JWT"})
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signing := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	return signing + "." + b64.EncodeToString(hs256(key, signing)), nil
}

// verifyToken checks the algorithm before the signature so that a token
// claiming another algorithm is never treated as merely "badly signed".
func verifyToken(key []byte, token string, now time.Time) (claims, error) {
	if len(token) > maxTokenLen {
		return claims{}, errTokenMalformed
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return claims{}, errTokenMalformed
	}
	var h jwtHeader
	if err := decodeSegment(parts[0], &h); err != nil {
		return claims{}, errTokenMalformed
	}
	if h.Alg != "HS256" {
		return claims{}, errTokenAlg
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return claims{}, errTokenMalformed
	}
	if !hmac.Equal(sig, hs256(key, parts[0]+"."+parts[1])) {
		return claims{}, errTokenSignature
	}
	var c claims
	if err := decodeSegment(parts[1], &c); err != nil {
		return claims{}, errTokenMalformed
	}
	if c.Sub == "" || c.Exp == 0 {
		return claims{}, errTokenMalformed
	}
	if now.Unix() >= c.Exp {
		return claims{}, errTokenExpired
	}
	return c, nil
}

func decodeSegment(seg string, v interface{}) error {
	b, err := b64.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func hs256(key []byte, signing string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signing))
	return m.Sum(nil)
}
