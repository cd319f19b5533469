// The webmail's link to the administration pages, shown only to an account the Session gives the
// admin capability (docs/admin.md "The pages"); the pages themselves refuse anyone else.

const ADMIN = "urn:pochta:params:jmap:admin";

export function showAdminLink(session) {
  const own = Object.values(session.accounts ?? {}).some((account) => ADMIN in (account.accountCapabilities ?? {}));
  if (!own || document.getElementById("admin-link")) return;
  const link = document.createElement("a");
  link.id = "admin-link";
  link.href = "/webmail/admin/";
  link.textContent = "Administration";
  document.querySelector("header.bar .account").before(link);
}
