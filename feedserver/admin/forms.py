"""The admin's forms: field limits that match the columns, and the helpers views share.

Every limit here is checked server-side (the browser's ``maxlength`` is only a
hint), so hostile or oversized input comes back as the same form with a
message and a 422, never a 500.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import render_template
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    FieldList,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    StopValidation,
    ValidationError,
)

from feedserver.admin.once import OnceForm
from feedserver.content.editing import (
    BIO_MAX,
    BODY_MAX,
    DESCRIPTION_MAX,
    NAME_MAX,
    SUMMARY_MAX,
    TITLE_MAX,
    URL_MAX,
)
from feedserver.content.slugs import is_valid_slug
from feedserver.models.content import SLUG_LENGTH
from feedserver.urls import UrlProblem, http_url_problem

try:  # WTForms 3.3 deprecates (value, label) tuples in favour of SelectChoice
    from wtforms.fields.choices import (  # type: ignore[attr-defined]  # stubs predate 3.3
        SelectChoice,
    )
except ImportError:  # pragma: no cover - older WTForms
    SelectChoice = None

NONE_CHOICE = ("", "— none —")


def options(pairs: list[tuple[str, str]]) -> list[Any]:
    """Turn (value, label) pairs into the choices this WTForms version prefers."""
    if SelectChoice is None:
        return list(pairs)
    return [SelectChoice(value, label) for value, label in pairs]


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


STRIP = [_strip]


def _no_control_chars(_form: Any, field: Any) -> None:
    """Refuse NUL and other C0 controls (PostgreSQL refuses NUL, feeds refuse the rest)."""
    data = field.data
    if isinstance(data, str) and any(ord(c) < 32 and c not in "\t\n\r" for c in data):
        raise ValidationError("Remove the control characters from this field.")


def _slug(_form: Any, field: Any) -> None:
    if field.data and not is_valid_slug(field.data):
        raise ValidationError(
            "A slug is lowercase letters and digits in hyphen-separated runs, e.g. world-news."
        )


_URL_MESSAGES = {
    UrlProblem.TOO_LONG: f"A web address here has at most {URL_MAX:,} characters.",
    UrlProblem.SPACES: "A web address has no spaces or control characters (write a space as %20).",
    UrlProblem.MALFORMED: (
        'This is not a web address a browser reads one way: write < > " \\ ` and'
        " spaces percent-encoded (%3C for <), and a port as digits."
    ),
    UrlProblem.NOT_HTTP: "Give a full http:// or https:// address, with its host.",
    UrlProblem.CREDENTIALS: "Leave the user name and password out of the address.",
}


def _web_url(_form: Any, field: Any) -> None:
    """One message, the one that says what is wrong with the address."""
    problem = http_url_problem(field.data, URL_MAX) if field.data else None
    if problem is not None:
        raise StopValidation(_URL_MESSAGES[problem])


def text(label: str, max_length: int, *, required: bool = False, **kw: Any) -> StringField:
    """A one-line text field stripped of outer space and limited in length."""
    checks: list[Any] = [DataRequired()] if required else [Optional()]
    checks += [Length(max=max_length), _no_control_chars]
    render_kw = {"maxlength": max_length, **kw.pop("render_kw", {})}
    return StringField(label, checks, filters=STRIP, render_kw=render_kw, **kw)


def area(label: str, max_length: int, **kw: Any) -> TextAreaField:
    """A multi-line text field limited in length."""
    return TextAreaField(label, [Optional(), Length(max=max_length), _no_control_chars], **kw)


def url_field(label: str, *, required: bool = False) -> StringField:
    """An http(s) URL field."""
    checks: list[Any] = [DataRequired()] if required else [Optional()]
    checks += [_web_url]
    return StringField(
        label, checks, filters=STRIP, render_kw={"maxlength": URL_MAX, "type": "url"}
    )


def slug_field() -> StringField:
    """An optional slug; blank means "make one from the name"."""
    return StringField(
        "Slug",
        [Optional(), Length(max=SLUG_LENGTH), _slug],
        filters=STRIP,
        render_kw={"maxlength": SLUG_LENGTH},
        description="The name in URLs. Leave blank to make one from the name.",
    )


class LoginForm(FlaskForm):
    name = text("Name", 150, required=True, render_kw={"autocomplete": "username"})
    password = PasswordField(
        "Password",
        [DataRequired(), Length(max=1000)],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField("Sign in")


class ConfirmForm(FlaskForm):
    """A bare form for actions that are one button: delete, refresh, revoke, sign out."""


class SectionForm(OnceForm):
    name = text("Name", NAME_MAX, required=True)
    slug = slug_field()
    description = area("Description", DESCRIPTION_MAX)
    submit = SubmitField("Save section")


class AuthorForm(OnceForm):
    name = text("Name", NAME_MAX, required=True)
    slug = slug_field()
    url = url_field("Web page")
    bio = area("Bio", BIO_MAX, description="Shown in the author box under each article.")
    submit = SubmitField("Save author")


class ArticleForm(OnceForm):
    title = text("Title", TITLE_MAX, required=True)
    slug = slug_field()
    summary = area("Summary", SUMMARY_MAX, description="Plain text, a sentence or two.")
    body_html = area(
        "Body (HTML)",
        BODY_MAX,
        description="HTML; scripts, styles and unsafe attributes are removed on save.",
    )
    section = SelectField(
        "Section", [DataRequired(message="Choose a section.")], choices=[], default=""
    )
    authors = FieldList(SelectField("Author", choices=[], default=""), min_entries=3)
    source = SelectField("Original source", choices=[], default="")
    original_url = url_field("Original URL")
    published_at = DateTimeLocalField(
        "Publish time (UTC)",
        [Optional()],
        format=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"],
        description="In UTC. Leave blank for now.",
        render_kw={"step": "1"},
    )
    comments_open = BooleanField("Comments open", default=True)
    # What the editor started from (admin.articles.fingerprint): a save over
    # someone else's change since is refused, not silently undone.
    edited_from = HiddenField()
    preview = SubmitField("Preview")
    submit = SubmitField("Save article")

    # True for an article that has no byline (an upstream entry that named no
    # author): it may be saved without one, as the API lets it be.
    byline_optional = False

    def validate_authors(self, field: FieldList[Any]) -> None:
        # Without a byline only while it stays attributed to a source: the
        # newsroom's own articles name their authors.
        if not any(entry.data for entry in field) and not (
            self.byline_optional and self.source.data
        ):
            raise ValidationError("Choose at least one author.")


class SourceAddForm(FlaskForm):
    url = url_field("Feed or web page address", required=True)
    section = SelectField("Section", choices=[], default="")
    submit = SubmitField("Add source")


class SourceEditForm(FlaskForm):
    name = text("Name", NAME_MAX, required=True)
    section = SelectField("Section", choices=[], default="")
    poll_interval = IntegerField(
        "Poll interval (seconds)",
        [Optional(), NumberRange(min=60, max=7 * 86400)],
        description="Blank: the site's default.",
    )
    enabled = BooleanField("Enabled (polled)")
    submit = SubmitField("Save source")


# An aggregated article without its source would misattribute the work
# (feedserver.aggregation.sources), so keeping the articles means keeping the source, disabled.
ARTICLE_FATES = [
    ("disable", "Keep the source and its articles, but stop polling it (disable it)"),
    ("delete", "Delete the source and all its articles"),
]


class SourceDeleteForm(FlaskForm):
    articles = RadioField(
        "What should happen to its articles?",
        [InputRequired(message="Choose what happens to its articles.")],
        choices=options(ARTICLE_FATES),
    )
    submit = SubmitField("Go ahead")


class OpmlImportForm(FlaskForm):
    file = FileField("OPML file", [DataRequired(message="Choose an OPML file.")])
    section = SelectField(
        "Section", choices=[], default="", description="For outlines that name no category."
    )
    submit = SubmitField("Import")


class TokenForm(OnceForm):
    label = text("Label", 150, required=True, description="What the token is for, e.g. 'CMS sync'.")
    submit = SubmitField("Create token")


def utc_from_local(value: datetime | None) -> datetime | None:
    """Read a datetime-local value as UTC (the form says so)."""
    return value.replace(tzinfo=UTC) if value is not None else None


def render_form(template: str, form: FlaskForm, **context: Any) -> tuple[str, int]:
    """Render a page with its form; 422 when the form was submitted with errors."""
    status = 422 if form.errors else 200
    return render_template(template, form=form, **context), status


def attach_errors(form: FlaskForm, message: str, fields: dict[str, Any] | None) -> None:
    """Put an editing error's per-field messages on the form's fields."""
    placed = False
    for name, detail in (fields or {}).items():
        field = getattr(form, str(name), None)
        if field is None or not hasattr(field, "errors"):
            continue
        # editing.py gives reasons as fragments ("is required"); a bare code
        # ("taken") is better told by the whole message.
        if isinstance(detail, str) and " " in detail:
            text_ = f"{field.label.text} {detail}."
        else:
            text_ = message
        field.errors = [*list(field.errors or []), text_]
        placed = True
    if not placed:
        form.form_errors.append(message)
