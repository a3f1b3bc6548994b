package notify

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	htmltemplate "html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"text/template"
	"time"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var (
	funcs    = map[string]any{"t": T}
	textTmpl = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/mail.txt.tmpl"))
	htmlTmpl = htmltemplate.Must(htmltemplate.New("").Funcs(funcs).ParseFS(templateFS, "templates/mail.html.tmpl"))
)

// view is what a mail's templates read: names and links, never a reason,
// a comment or a secret.
type view struct {
	Kind       string // the template: an event kind, "digest" or "no_email"
	Name       string // the recipient's name
	Person     string // the name of the person it is about
	PersonID   string
	System     string // the system's name
	Role       string
	Stage      string // "trinn 1 av 2"
	Days       int    // working days waited (reminders, escalations)
	From, To   string // person.moved: the unit and position before and from now
	Task       string // what a manual task asks
	Credential bool   // a manual task to hand an initial password out in person
	Username   string // credential.issued: the new account's username
	MayApprove bool   // approval.escalated: the recipient may approve (review.escalated: may decide)
	Completes  bool   // task.escalated: the recipient administers the system (else its coordinator)
	Count      int    // reviews: how many items wait
	Until      string // reviews: the Oslo date the campaign ends
	Link       string
	Items      []item // digest
}

type item struct{ Subject, Link string }

// subject is the mail's subject line.
func (v view) subject() string {
	switch v.Kind {
	case "digest":
		return T("digest.subject", len(v.Items))
	case "no_email", "person.left", "person.moved":
		return T(v.Kind+".subject", v.Person)
	case "review.started", "review.reminded", "review.escalated":
		return T(v.Kind+".subject", v.System)
	}
	return T(v.Kind+".subject", v.Role, v.System, v.Person)
}

// letter is one mail to be made: to whom, about which event, saying what.
type letter struct {
	key       string // unique in the outbox: the Message-ID is made of it
	eventID   int64
	at        time.Time // the event's time: the Date header
	recipient string    // person id
	address   string
	v         view
}

// compose renders the whole message: a multipart/alternative of plain
// text and HTML, with a Message-ID and boundary derived from the letter's
// key and a Date from its event, so the same letter always gives the same
// bytes.
func compose(l letter, from mail.Address, domain string) ([]byte, string, error) {
	v := l.v
	subject := v.subject()
	var body bytes.Buffer
	if err := textTmpl.ExecuteTemplate(&body, v.Kind, v); err != nil {
		return nil, "", fmt.Errorf("notify: the %s text: %w", v.Kind, err)
	}
	var hbody bytes.Buffer
	if err := htmlTmpl.ExecuteTemplate(&hbody, v.Kind, v); err != nil {
		return nil, "", fmt.Errorf("notify: the %s html: %w", v.Kind, err)
	}
	action := T(v.Kind + ".action")
	var plain, html bytes.Buffer
	if err := textTmpl.ExecuteTemplate(&plain, "layout", map[string]any{"Name": v.Name, "Body": strings.TrimSpace(body.String()),
		"ActionText": action, "Link": v.Link}); err != nil {
		return nil, "", fmt.Errorf("notify: the text layout: %w", err)
	}
	if err := htmlTmpl.ExecuteTemplate(&html, "layout", map[string]any{"Lang": Lang, "Subject": subject, "Name": v.Name,
		"Body": htmltemplate.HTML(hbody.String()), "ActionText": action, "Link": v.Link}); err != nil {
		return nil, "", fmt.Errorf("notify: the html layout: %w", err)
	}
	sum := sha256.Sum256([]byte(l.key))
	tag := hex.EncodeToString(sum[:12])
	msgID := "<" + l.key + "@" + domain + ">"
	var out bytes.Buffer
	to := mail.Address{Name: v.Name, Address: l.address}
	hdr := []struct{ k, v string }{
		{"From", from.String()},
		{"To", to.String()},
		{"Subject", mime.QEncoding.Encode("utf-8", subject)},
		{"Date", l.at.UTC().Format(time.RFC1123Z)},
		{"Message-ID", msgID},
		{"MIME-Version", "1.0"},
		{"Auto-Submitted", "auto-generated"},
		{"Content-Language", Lang},
		{"Content-Type", `multipart/alternative; boundary="tilgang-` + tag + `"`},
	}
	for _, h := range hdr {
		fmt.Fprintf(&out, "%s: %s\r\n", h.k, h.v)
	}
	out.WriteString("\r\n")
	mw := multipart.NewWriter(&out)
	if err := mw.SetBoundary("tilgang-" + tag); err != nil {
		return nil, "", err
	}
	for _, part := range []struct {
		ctype string
		body  []byte
	}{{"text/plain; charset=utf-8", plain.Bytes()}, {"text/html; charset=utf-8", html.Bytes()}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {part.ctype}, "Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			return nil, "", err
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write(crlf(part.body)); err != nil {
			return nil, "", err
		}
		if err := qp.Close(); err != nil {
			return nil, "", err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return out.Bytes(), msgID, nil
}

// crlf makes every line end in CRLF, as SMTP wants.
func crlf(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

func mailAddress(a string) mail.Address { return mail.Address{Name: T("from.name"), Address: a} }
