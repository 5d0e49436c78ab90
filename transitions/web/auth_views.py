"""Sign-in, sign-out and the home redirect."""

from flask import g, redirect, request, url_for
from sqlalchemy import select

from transitions.core import audit
from transitions.core.db import db
from transitions.identity import passwords
from transitions.identity.models import User
from transitions.web import sessions, throttle
from transitions.web.blueprint import ROLE_HOME, SESSION_PROBLEMS, bp, render, safe_next

# Said on the sign-in page after the Sign out button, so a shared computer visibly holds no session.
SIGNED_OUT = "You have signed out."


@bp.get("/")
def home():
    return redirect(url_for(ROLE_HOME.get(g.user.role, "web.board")))


def idle_minutes():
    return int(sessions.idle_timeout().total_seconds() // 60)


@bp.app_context_processor
def sign_in_context():
    return {"idle_minutes": idle_minutes()}


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    if g.user is not None:
        return redirect(safe_next(request.values.get("next")) or url_for("web.home"))
    next_page = safe_next(request.values.get("next"))
    reason = request.args.get("reason")
    message = None
    if reason == "signed_out":
        message = SIGNED_OUT
    elif reason in SESSION_PROBLEMS:
        message = SESSION_PROBLEMS[reason]
        if "%d" in message:
            message = message % idle_minutes()
    if request.method == "GET":
        return render("sign_in.html", next_page=next_page, message=message, email="")

    email = (request.form.get("email") or "").strip().lower()[:254]
    password = request.form.get("password") or ""
    if not email or not password:
        return render(
            "sign_in.html", status=400, next_page=next_page, email=email, error="Enter your email and password."
        )
    if throttle.blocked(email):
        throttle.record_throttled(email)
        return render(
            "sign_in.html",
            status=429,
            next_page=next_page,
            email=email,
            error="Too many failed sign-ins. Wait a few minutes and try again.",
        )
    user = db.session.scalar(select(User).where(User.email == email))
    if not passwords.verify_password(user, password) or not user.active:
        throttle.record(email, user, succeeded=False)
        # One message for a wrong email and a wrong password: it must not reveal who has an account.
        return render(
            "sign_in.html",
            status=401,
            next_page=next_page,
            email=email,
            error="That email and password do not match an active account.",
        )
    throttle.record(email, user, succeeded=True)
    sessions.start(user)
    g.user = user
    return redirect(next_page or url_for("web.home"))


@bp.post("/sign-out")
def sign_out():
    audit.record("web.sign_out", "user", g.user.id)
    sessions.revoke(g.web_session, "sign_out")
    g.web_session = None
    return redirect(url_for("web.sign_in", reason="signed_out"))
