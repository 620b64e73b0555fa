"""The public error catalogue: every code a credential test can report, its causes and its fixes.

Codes are stable: the API, logs, the support console and the /docs/errors page all use them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """One catalogue entry."""

    code: str
    title: str
    causes: tuple[str, ...]
    fixes: tuple[str, ...]
    #: Known traps worth saying wherever the code appears.
    traps: tuple[str, ...] = ()


RBAC_DELAY = ("A new role assignment or permission can take up to about two hours to take effect "
              "on Exchange Server (RBAC and mailbox caches); run the test again later before "
              "changing anything else.")
LOGON_NAME = ("On-premises Exchange with NTLM often wants the logon name as DOMAIN\\user (for "
              "example CONTOSO\\svc-connect) rather than the e-mail address; enter it as the "
              "logon name on page 1.")
PASSWORD_EXPIRY = ("If the service account's password expires, the connection breaks on that "
                   "day; set it not to expire (Set-ADUser <account> -PasswordNeverExpires $true) "
                   "or plan the rotation.")

_ENTRIES = (
    Entry("invalid_ews_url", "The EWS URL is not acceptable",
          ("The URL is not https, uses another port or path, or names an IP address.",),
          ("Enter https://mail.<your domain>/EWS/Exchange.asmx.",)),
    Entry("address_blocked", "The server's address may not be contacted",
          ("The host name resolves to a loopback, private, link-local or cloud-metadata "
           "address, which this service never connects to.",),
          ("Use the public DNS name of your Exchange server.",
           "For an on-premises server without a public name, publish EWS (reverse proxy) and "
           "use that name.")),
    Entry("dns_failed", "The server's name has no DNS entry",
          ("A typo in the host name.", "The name exists only in your internal DNS."),
          ("Check the name with nslookup from outside your network.",)),
    Entry("connection_failed", "The server could not be reached",
          ("A firewall blocks port 443.", "The server is down."),
          ("Allow inbound https (443) to the EWS endpoint.",)),
    Entry("connection_reset", "The connection was cut off",
          ("A proxy, load balancer or firewall closed the connection mid-response.",),
          ("Run the test again; if it persists, check the load balancer's idle timeouts and "
           "inspection rules for /EWS/.",)),
    Entry("timeout", "A check did not finish in time",
          ("The server answered too slowly or not at all.", "Heavy load or throttling."),
          ("Run the test again; the report names the check that timed out.",
           "Check the server's health and the network path to /EWS/Exchange.asmx.")),
    Entry("budget_exhausted", "The test ran out of time",
          ("Earlier checks used up the total time the test may take.",),
          ("Run the test again; fix the slow or failing checks first.",)),
    Entry("tls_name_mismatch", "The certificate is for a different name",
          ("The server's TLS certificate does not list the host name you entered.",),
          ("Install a certificate whose subject alternative names include this host name, "
           "or use the name the certificate was issued for.",)),
    Entry("tls_untrusted", "The certificate is not trusted",
          ("A self-signed or internal-CA certificate.", "A missing intermediate certificate."),
          ("Install a certificate from a public certificate authority, including its "
           "intermediate chain.",)),
    Entry("tls_expired", "The certificate has expired",
          ("The server's TLS certificate is past its expiry date.",),
          ("Renew the certificate and bind it to the Exchange web site (IIS).",)),
    Entry("tls_error", "The TLS handshake failed",
          ("An old TLS version or cipher, or a proxy interfering.",),
          ("Enable TLS 1.2 or later on the server.",)),
    Entry("endpoint_not_ews", "That address is not an EWS endpoint",
          ("The URL answered, but not as Exchange Web Services (404, a redirect or a web page).",),
          ("Use https://<server>/EWS/Exchange.asmx; check the EWS virtual directory with "
           "Get-WebServicesVirtualDirectory.",)),
    Entry("autodiscover_failed", "Autodiscover found no EWS endpoint",
          ("No autodiscover.<domain> DNS record.", "The certificate lacks the autodiscover name.",
           "Autodiscover is not published to the internet."),
          ("Create a DNS record for autodiscover.<domain> and put the name on the certificate.",
           "Or skip Autodiscover and enter the EWS URL on page 1.")),
    Entry("autodiscover_redirect_unconfirmed", "Autodiscover pointed to another domain",
          ("Autodiscover redirected to a host outside your domain. We never send your "
           "credentials there without your confirmation.",),
          ("If the host is your organisation's Exchange (a hosting provider, or another domain "
           "you own), choose “Trust” on the test page and run the test again, or enter its EWS "
           "URL on page 1 directly.",
           "Otherwise check your autodiscover DNS records: someone may be intercepting them.")),
    Entry("credentials_over_http", "Credentials would have travelled unencrypted",
          ("The endpoint or a redirect uses http://.",),
          ("Use https for EWS and Autodiscover.",)),
    Entry("auth_method_unsupported", "The server offers no sign-in method we can use",
          ("EWS offers only Negotiate/Kerberos, or no method at all.",),
          ("Enable NTLM (Windows authentication) or Basic on the EWS virtual directory: "
           "Set-WebServicesVirtualDirectory -WindowsAuthentication $true.",)),
    Entry("authentication_failed", "Exchange rejected the service account's sign-in",
          ("Wrong password.", "Wrong user name format.",
           "The authentication method is disabled on the EWS virtual directory."),
          ("Check the password by signing in to Outlook on the web as the service account.",
           "Enter the logon name as DOMAIN\\user if your server uses NTLM."),
          (LOGON_NAME, PASSWORD_EXPIRY,
           "We try a password once per test and limit failed tests, so your account is not "
           "locked out by repeated attempts.")),
    Entry("account_locked", "The service account is locked out",
          ("Too many failed sign-ins, possibly from an old password stored somewhere else.",),
          ("Unlock it: Unlock-ADAccount -Identity <account>; then find what else uses the old "
           "password.",), (PASSWORD_EXPIRY,)),
    Entry("account_disabled", "An account is disabled",
          ("The service account or the mailbox's account is disabled.",),
          ("Enable the account in Active Directory.",)),
    Entry("ews_blocked", "Exchange refused EWS access (HTTP 403)",
          ("EWS disabled for the mailbox or organisation (EwsEnabled), an EWS application "
           "access policy, or Exchange Online's EWS retirement.",),
          ("Check Get-OrganizationConfig | fl Ews* and Get-CASMailbox <mailbox> | fl Ews*; "
           "allow this application.",)),
    Entry("oauth_invalid_client", "The app's client secret was rejected",
          ("Wrong or expired client secret.",),
          ("Create a new client secret in Entra ID (App registrations > Certificates & "
           "secrets) and enter it on page 1.",)),
    Entry("oauth_app_not_found", "The app registration was not found in the tenant",
          ("Wrong tenant ID or application (client) ID.",),
          ("Copy both IDs from the app registration's overview page.",)),
    Entry("oauth_token_failed", "No access token could be obtained",
          ("The token endpoint refused the request.",),
          ("Check the tenant ID, client ID and secret; grant admin consent for "
           "full_access_as_app.",)),
    Entry("service_mailbox_missing", "The service account has no mailbox",
          ("The account was created without a mailbox; Exchange needs one to list rooms and "
           "room lists for it.",),
          ("Enable a mailbox: Enable-Mailbox -Identity <service account>.",)),
    Entry("impersonation_denied", "The service account may not impersonate this mailbox",
          ("No ApplicationImpersonation role assignment.",
           "The mailbox is outside the assignment's management scope.",
           "The assignment is new and not yet effective."),
          ("Assign the role (the PowerShell in the report), scoped to the covered mailboxes.",),
          (RBAC_DELAY,)),
    Entry("app_access_denied", "The app may not access this mailbox",
          ("The app has no full_access_as_app consent, or RBAC for Applications / an application "
           "access policy excludes this mailbox.",),
          ("Assign 'Application EWS.AccessAsApp' with a scope covering the mailbox; verify with "
           "Test-ServicePrincipalAuthorization.",), (RBAC_DELAY,)),
    Entry("mailbox_not_found", "There is no such mailbox",
          ("A typo, an alias instead of the primary SMTP address, or a mailbox in the other "
           "half of a hybrid deployment.",),
          ("Use the primary address: Get-Mailbox <name> | fl PrimarySmtpAddress.",)),
    Entry("mailbox_unavailable", "The mailbox is temporarily unavailable",
          ("Its database is dismounted or failing over, or the mailbox is being moved.",),
          ("Try again later; check Get-MailboxDatabaseCopyStatus and Get-MoveRequest.",)),
    Entry("delegate_access_denied", "The service account may not open this Calendar",
          ("No folder permission on the mailbox's Calendar for the service account.",),
          ("Give the service account Editor (or Reviewer for read-only) on the Calendar.",),
          (RBAC_DELAY,)),
    Entry("freebusy_denied", "Free/busy times are not shared",
          ("The Calendar's Default permission is None, and the service account has no own "
           "AvailabilityOnly permission.",),
          ("Set the Default entry back to AvailabilityOnly, or give the service account "
           "AvailabilityOnly.",)),
    Entry("calendar_read_denied", "The calendar cannot be read",
          ("The permission allows free/busy only, or no permission on the Calendar.",),
          ("Give the service account Reviewer or Editor on the Calendar (Restricted), or "
           "impersonation (Full).",), (RBAC_DELAY,)),
    Entry("calendar_write_denied", "Events cannot be created",
          ("The permission is Reviewer (read-only) or lower.",),
          ("Give the service account Editor on the Calendar.",)),
    Entry("test_event_left_behind", "The test event could not be removed",
          ("The delete failed after the event was created.",),
          ("Delete the event labelled 'Exchange Connect test – safe to delete' from the "
           "mailbox's calendar.",)),
    Entry("mail_readable", "Mail is readable although the level does not need it",
          ("The service account has more rights than the Restricted level needs (e.g. "
           "FullAccess or impersonation).",),
          ("Remove FullAccess (Remove-MailboxPermission) or the impersonation role so only the "
           "Calendar permission remains.",)),
    Entry("details_readable", "Event details are readable although the level does not need it",
          ("The service account has Reviewer or more on the Calendar, or impersonation.",),
          ("Lower the permission to AvailabilityOnly.",)),
    Entry("no_room_lists", "No room lists",
          ("No distribution group is marked as a room list, so room finders show no rooms.",),
          ("Create a room list with the rooms (the PowerShell in the report).",)),
    Entry("room_list_failed", "Room lists could not be read",
          ("An error listing room lists or their rooms.",),
          ("Check the room list with Get-DistributionGroup -RecipientTypeDetails RoomList.",)),
    Entry("scope_narrower", "The vendor asked for more than this level allows",
          ("The chosen access level or the tested permissions cannot serve every scope the "
           "vendor requested.",),
          ("Choose a broader level on page 2, or tell the vendor which features will not work.",)),
    Entry("exchange_busy", "Exchange is throttling the service account",
          ("EWS throttling (ErrorServerBusy) asked us to wait longer than the test may take.",),
          ("Try again after the time Exchange asked for; for heavy use create a dedicated "
           "throttling policy: New-ThrottlingPolicy, Set-ThrottlingPolicyAssociation.",)),
    Entry("server_unavailable", "Exchange reported a server error",
          ("HTTP 503 or 500: the EWS application pool is stopped or overloaded.",),
          ("Try again later; check the MSExchangeServicesAppPool in IIS.",)),
    Entry("malformed_response", "Exchange's answer could not be read",
          ("A proxy or a broken server returned invalid XML or a web page instead of SOAP.",),
          ("Check what sits in front of /EWS/ (reverse proxy, WAF) and try again.",)),
    Entry("response_too_large", "Exchange's answer was too large",
          ("The server sent far more data than any EWS answer needs.",),
          ("Check that the URL really is your Exchange server.",)),
    Entry("access_denied", "Exchange denied access",
          ("The service account lacks the right this check needs.",),
          ("See the remediation in the report.",)),
    Entry("exchange_error", "Exchange returned an error",
          ("An EWS error this test does not expect.",),
          ("Attach the downloaded report to a support ticket.",)),
    Entry("unexpected_error", "The check failed unexpectedly",
          ("A problem in this service while running the check.",),
          ("Run the test again; if it persists, attach the report to a support ticket.",)),
    Entry("too_many_tests", "Too many credential tests",
          ("Several tests failed for this service account or server in a short time; we pause "
           "so a wrong password cannot lock the account out.",),
          ("Wait until the time shown, fix the password, then test again.",)),
)

CATALOGUE: dict[str, Entry] = {e.code: e for e in _ENTRIES}


def entry(code: str) -> Entry:
    """Return the catalogue entry for ``code`` (unknown codes fall back to ``exchange_error``)."""
    return CATALOGUE.get(code, CATALOGUE["exchange_error"])
