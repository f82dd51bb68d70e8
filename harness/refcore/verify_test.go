package refcore

import (
	"testing"

	"imsconform/harness/aka"
	"imsconform/harness/lab"
	"imsconform/harness/sipmsg"
)

// TestVerifyBindsTheResponseToTheChallengedIMPI: a right digest for another
// username (the nonce was issued to user1_private) is refused, as are a
// wrong realm and a wrong response; the right one passes with any uri.
func TestVerifyBindsTheResponseToTheChallengedIMPI(t *testing.T) {
	c := &Core{lab: lab.DefaultFor("127.0.0.1")}
	xres := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	rec := &nonceRec{xres: xres, impi: "user1_private@home1.net"}
	m := &sipmsg.Message{Method: "REGISTER"}
	params := func(user, realm, uri string) map[string]string {
		resp, err := aka.DigestResponse(aka.Params{Username: user, Realm: realm, Password: xres, Method: "REGISTER", URI: uri, Nonce: "n0nce"})
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"username": user, "realm": realm, "uri": uri, "nonce": "n0nce", "response": resp, "algorithm": "AKAv1-MD5"}
	}
	if !c.verify(m, params("user1_private@home1.net", "registrar.home1.net", "sip:registrar.home1.net"), rec) {
		t.Errorf("the right response was refused")
	}
	if !c.verify(m, params("user1_private@home1.net", "registrar.home1.net", "sip:127.0.0.1:5060"), rec) {
		t.Errorf("the right response with another uri (as SIPp sends with auth-int) was refused")
	}
	if c.verify(m, params("someone_else@home1.net", "registrar.home1.net", "sip:registrar.home1.net"), rec) {
		t.Errorf("a response computed for another username was accepted")
	}
	if c.verify(m, params("user1_private@home1.net", "other.realm", "sip:registrar.home1.net"), rec) {
		t.Errorf("a response for another realm was accepted")
	}
	d := params("user1_private@home1.net", "registrar.home1.net", "sip:registrar.home1.net")
	d["response"] = "00000000000000000000000000000000"
	if c.verify(m, d, rec) {
		t.Errorf("a wrong response was accepted")
	}
}
