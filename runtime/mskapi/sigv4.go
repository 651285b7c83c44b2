package mskapi

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// verifySigV4 checks an AWS Signature Version 4 Authorization header
// against the configured secret keys. It reads and restores the body.
func (s *Server) verifySigV4(r *http.Request) *Error {
	auth := r.Header.Get("Authorization")
	const algo = "AWS4-HMAC-SHA256"
	rest, ok := strings.CutPrefix(auth, algo+" ")
	if !ok {
		return unauthorized("request is not signed with %s", algo)
	}
	var cred, signed, sig string
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signed = v
		case "Signature":
			sig = v
		}
	}
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" || signed == "" || sig == "" {
		return unauthorized("malformed Authorization header")
	}
	secret, ok := s.creds[scope[0]]
	if !ok {
		return unauthorized("the security token included in the request is invalid: unknown access key %s", scope[0])
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || !strings.HasPrefix(amzDate, scope[1]) {
		return unauthorized("X-Amz-Date %q is missing or does not match the credential scope", amzDate)
	}
	if d := s.now().Sub(t); d > 15*time.Minute || d < -15*time.Minute {
		return unauthorized("signature expired: X-Amz-Date %s is more than 15 minutes from the server time", amzDate)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return badRequest("reading body: %v", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		h := sha256.Sum256(body)
		payload = hex.EncodeToString(h[:])
	}
	var ch strings.Builder
	for _, name := range strings.Split(signed, ";") {
		var v string
		switch name {
		case "host":
			v = r.Host
		case "content-length":
			v = strconv.FormatInt(r.ContentLength, 10)
		default:
			v = strings.Join(r.Header.Values(name), ",")
		}
		ch.WriteString(name + ":" + strings.Join(strings.Fields(v), " ") + "\n")
	}
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	canon := strings.Join([]string{r.Method, uriEncode(path, false), canonicalQuery(r.URL.Query()), ch.String(), signed, payload}, "\n")
	ch2 := sha256.Sum256([]byte(canon))
	sts := strings.Join([]string{algo, amzDate, strings.Join(scope[1:], "/"), hex.EncodeToString(ch2[:])}, "\n")
	key := []byte("AWS4" + secret)
	for _, p := range scope[1:] {
		key = hmacSHA256(key, p)
	}
	want := hex.EncodeToString(hmacSHA256(key, sts))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return &Error{http.StatusForbidden, "InvalidSignatureException", "the request signature we calculated does not match the signature you provided; check your AWS secret access key and signing method"}
	}
	return nil
}

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

func canonicalQuery(q url.Values) string {
	var parts []string
	for k, vs := range q {
		for _, v := range vs {
			parts = append(parts, uriEncode(k, true)+"="+uriEncode(v, true))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "&")
}

// uriEncode is SigV4's UriEncode: every byte but the unreserved ones is
// percent-encoded; '/' is kept unless encodeSlash.
func uriEncode(s string, encodeSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' && !encodeSlash {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
	}
	return b.String()
}
