"""Forms of the four wizard pages; every value is validated by ``app.exchange.addresses``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    RadioField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from app.exchange import addresses
from app.exchange.access import ACCESS_LEVELS


def _normalized(normalize: Callable[..., Any], *args: Any) -> Callable[[FlaskForm, Any], None]:
    """Build a validator that normalizes the field's data in place or explains what is wrong."""

    def validator(form: FlaskForm, field: Any) -> None:
        if not field.data:
            return
        try:
            field.data = normalize(field.data, *args)
        except addresses.InvalidInput as e:
            raise ValidationError(str(e)) from e

    return validator


def _ews_url(form: FlaskForm, field: Any) -> None:
    if not field.data:
        return
    try:
        field.data = addresses.normalize_ews_url(
            field.data, current_app.config.get("OUTBOUND_ALLOW_HOSTS", ())
        )
    except addresses.InvalidInput as e:
        raise ValidationError(str(e)) from e


class AccountForm(FlaskForm):
    """Page 1: the deployment, the service account and how to reach EWS."""

    deployment = RadioField(
        "Where do your mailboxes live?",
        choices=[
            SelectChoice("onprem", "Exchange Server (on-premises)"),
            SelectChoice("online", "Exchange Online (Microsoft 365)"),
        ],
        default="onprem",
        validators=[InputRequired()],
    )
    service_account = StringField(
        "Service account address",
        description="The user principal name (UPN), for example svc-connect@contoso.com.",
        validators=[InputRequired("Enter the service account's address."), Length(max=254),
                    _normalized(addresses.normalize_address)],
    )
    logon_name = StringField(
        "Logon name (optional)",
        description="Only if Exchange expects DOMAIN\\user rather than the address.",
        validators=[Optional(), Length(max=40), _normalized(addresses.normalize_logon_name)],
    )
    password = PasswordField(
        "Password",
        description="Stored encrypted; never shown again. Leave empty to keep the saved one.",
        validators=[Length(max=256)],
    )
    tenant_id = StringField(
        "Directory (tenant) ID",
        description="A GUID or your tenant's onmicrosoft.com domain.",
        validators=[Optional(), Length(max=100), _normalized(addresses.normalize_tenant_id)],
    )
    app_client_id = StringField(
        "Application (client) ID",
        validators=[Optional(), Length(max=40), _normalized(addresses.normalize_client_id)],
    )
    client_secret = PasswordField(
        "Client secret",
        description="Stored encrypted; never shown again. Leave empty to keep the saved one.",
        validators=[Length(max=256)],
    )
    endpoint = RadioField(
        "How should we find your Exchange server?",
        choices=[
            SelectChoice("url", "I will enter the EWS URL"),
            SelectChoice("autodiscover", "Use Autodiscover from the service account's domain"),
        ],
        default="url",
        validators=[InputRequired()],
    )
    ews_url = StringField(
        "EWS URL",
        description="For example https://mail.contoso.com/EWS/Exchange.asmx",
        validators=[Optional(), Length(max=500), _ews_url],
    )

    def __init__(self, *args: Any, has_secret: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.has_secret = has_secret

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        online = self.deployment.data == "online"
        if online:
            for field_, message in (
                (self.tenant_id, "Enter the directory (tenant) ID of your Entra app."),
                (self.app_client_id, "Enter the application (client) ID of your Entra app."),
            ):
                if not field_.data:
                    field_.errors.append(message)
                    ok = False
            if not self.client_secret.data and not self.has_secret:
                self.client_secret.errors.append("Enter the app's client secret.")
                ok = False
        elif not self.password.data and not self.has_secret:
            self.password.errors.append("Enter the service account's password.")
            ok = False
        if self.endpoint.data == "url" and not self.ews_url.data and not self.ews_url.errors:
            self.ews_url.errors.append("Enter the EWS URL, or choose Autodiscover.")
            ok = False
        return ok


class AccessForm(FlaskForm):
    """Page 2: the access level and which mailboxes it covers."""

    level = RadioField(
        "Access level",
        choices=[SelectChoice(level.key, level.title) for level in ACCESS_LEVELS.values()],
        validators=[InputRequired("Choose an access level.")],
    )
    coverage = RadioField(
        "Which mailboxes?",
        choices=[
            SelectChoice("all", "Every mailbox in the organisation"),
            SelectChoice("group", "Members of a group"),
            SelectChoice("list", "Only these mailboxes"),
        ],
        default="all",
        validators=[InputRequired()],
    )
    group = StringField(
        "Group name or address",
        validators=[Optional(), Length(max=100), _normalized(addresses.normalize_group_name)],
    )
    mailboxes = TextAreaField(
        "Mailbox addresses",
        description="One per line, or separated by commas.",
        validators=[Optional(), Length(max=60000)],
    )

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        self.mailbox_list: tuple[str, ...] = ()
        if self.coverage.data == "group" and not self.group.data and not self.group.errors:
            self.group.errors.append("Enter the group's name or address.")
            ok = False
        if self.coverage.data == "list":
            try:
                self.mailbox_list = addresses.parse_address_list(self.mailboxes.data or "")
            except addresses.InvalidInput as e:
                self.mailboxes.errors.append(str(e))
                ok = False
            else:
                if not self.mailbox_list:
                    self.mailboxes.errors.append("Enter at least one mailbox address.")
                    ok = False
        return ok


class TestForm(FlaskForm):
    """Page 3: which mailbox to test against, and whether to try a write."""

    mailbox = StringField(
        "Mailbox to test",
        description="A user or room mailbox the connection must reach.",
        validators=[InputRequired("Enter a mailbox address to test against."),
                    Length(max=254), _normalized(addresses.normalize_address)],
    )
    write_test = BooleanField(
        "Also test writing: create a test event and delete it again"
    )


class AuthorizeForm(FlaskForm):
    """Page 4: Authorize or Cancel (the buttons carry the choice)."""


class TrustHostForm(FlaskForm):
    """Page 3: the admin trusts the hosts Autodiscover pointed to, outside their domain."""

    hosts = HiddenField(validators=[InputRequired(), Length(max=2000)])
