"""Compose every message the watcher sends (digests, alerts, tests) and hand it to SMTP or an .eml file.

``send`` tells the caller which failures are certain ("the server did not take it") and
which are not: once the message body has gone out, a lost connection may hide an
acceptance, and the ledger must then resend the identical message rather than
release its changes into a new digest.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import tempfile
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

from markupsafe import escape

from watcher.errors import WatcherError
from watcher.settings import EmailSettings, SmtpSettings
from watcher.values import parse_utc

PASSWORD_ENV = "WATCHER_SMTP_PASSWORD"  # noqa: S105 - the name of the variable, not a password
DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}
#: Python folds a long Subject by moving all of it to a continuation line, which some clients
#: show with a leading space; our headers stay far below RFC 5322's hard limit of 998.
POLICY = SMTP.clone(max_line_length=998)


class DeliveryError(WatcherError):
    """The message was not (or may not have been) accepted by the SMTP server."""

    hint = "check settings.email.smtp in queries.yaml and WATCHER_SMTP_PASSWORD; the digest is retried next run"

    def __init__(self, message: str, *, maybe_accepted: bool = False) -> None:
        super().__init__(message)
        self.maybe_accepted = maybe_accepted


def domain_of(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2] or "localhost"


def compose(
    email: EmailSettings,
    *,
    to: str,
    subject: str,
    text: str,
    date: str,
    list_name: str,
    list_label: str,
    unsubscribe: str | None = None,
    html: str | None = None,
    references: list[str] | None = None,
) -> tuple[str, bytes]:
    """One message as every sender of ours builds it; returns its Message-ID and its bytes (CRLF line endings).

    A multipart/alternative message with the headers mailing-list digests carry
    (``List-Id`` from ``list_name``/``list_label``, ``List-Unsubscribe``, ``Auto-Submitted``).
    Without ``html``, the HTML part is the text, escaped, with its line breaks kept.
    ``unsubscribe`` defaults to a mail to the sender.
    """
    domain = domain_of(email.from_)
    message_id = make_msgid(idstring=list_name, domain=domain)
    msg = EmailMessage(policy=POLICY)
    msg["From"] = email.from_
    msg["To"] = to
    msg["Subject"] = " ".join(subject.split())  # no CR/LF can reach a header
    msg["Date"] = format_datetime(parse_utc(date))
    msg["Message-ID"] = message_id
    msg["List-Id"] = f'"{list_label}" <{list_name}.{domain}>'
    msg["List-Unsubscribe"] = f"<{unsubscribe or 'mailto:' + parseaddr(email.from_)[1]}>"
    msg["Auto-Submitted"] = "auto-generated"
    if references:
        msg["In-Reply-To"] = references[-1]
        msg["References"] = " ".join(references)
    msg.set_content(text, charset="utf-8")
    if html is None:
        html = f"<p>{str(escape(text.rstrip())).replace(chr(10), '<br>')}</p>"
    msg.add_alternative(html, subtype="html", charset="utf-8")
    return message_id, msg.as_bytes()


def dispatch(email: EmailSettings, to: str, message: bytes, outbox: Path | None, name: str) -> str:
    """Send through the configured SMTP server, or write ``name`` into ``outbox`` when there is none (or one is given).

    Returns where it went, for the command's output; raises :class:`DeliveryError`.
    """
    if email.smtp is None or outbox is not None:
        if outbox is None:
            raise DeliveryError("no SMTP server is configured and no outbox was given")
        return f"written to {write_eml(outbox, name, message)}"
    send(email.smtp, email.from_, to, message)
    return f"sent to {to} via {email.smtp.host}"


def send(cfg: SmtpSettings, sender: str, to: str, message: bytes) -> None:
    """Deliver one message; raises DeliveryError saying whether the server might have taken it."""
    password = os.environ.get(PASSWORD_ENV)
    if cfg.username and not password:
        raise DeliveryError(f"settings.email.smtp.username is set but {PASSWORD_ENV} is not")
    port = cfg.port or DEFAULT_PORTS[cfg.security]
    context = ssl.create_default_context()
    envelope_from = parseaddr(sender)[1]
    conn: smtplib.SMTP | None = None
    try:
        if cfg.security == "ssl":
            conn = smtplib.SMTP_SSL(cfg.host, port, timeout=cfg.timeout_seconds, context=context)
        else:
            conn = smtplib.SMTP(cfg.host, port, timeout=cfg.timeout_seconds)
        conn.ehlo()
        if cfg.security == "starttls":
            conn.starttls(context=context)
            conn.ehlo()
        if cfg.username:
            conn.login(cfg.username, password or "")
        code, reply = conn.mail(envelope_from)
        if code != 250:
            raise DeliveryError(f"{cfg.host}: sender refused: {code} {reply.decode(errors='replace')}")
        code, reply = conn.rcpt(to)
        if code not in (250, 251):
            raise DeliveryError(f"{cfg.host}: recipient {to} refused: {code} {reply.decode(errors='replace')}")
        try:
            code, reply = conn.data(message)
        except smtplib.SMTPDataError as exc:  # DATA itself refused: the body never went out
            raise DeliveryError(f"{cfg.host}: message refused: {exc.smtp_code} {exc.smtp_error!r}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(
                f"{cfg.host}: connection lost after the message was sent ({exc.__class__.__name__})",
                maybe_accepted=True,
            ) from None
        if code != 250:
            raise DeliveryError(f"{cfg.host}: message refused: {code} {reply.decode(errors='replace')}")
    except DeliveryError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"{cfg.host}: login refused for {cfg.username}: {exc.smtp_code}") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"{cfg.host}:{port}: {exc.__class__.__name__}: {exc}") from None
    finally:
        if conn is not None:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                conn.close()


def write_eml(outbox: Path, name: str, message: bytes) -> Path:
    """Write atomically under a fixed name: writing the same delivery twice leaves one file."""
    outbox.mkdir(parents=True, exist_ok=True)
    path = outbox / name
    fd, tmp = tempfile.mkstemp(dir=outbox, prefix=".tmp-", suffix=".eml")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(message)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
