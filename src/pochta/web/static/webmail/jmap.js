// The webmail's JMAP client: the one API the webmail talks to (RFC 8620), with the session cookie
// and the page's CSRF token (docs/webmail.md "Sessions").

export class JmapError extends Error {
  constructor(type, detail) {
    super(detail ? `${type}: ${detail}` : type);
    this.type = type;
  }
}

export const CORE = "urn:ietf:params:jmap:core";
export const MAIL = "urn:ietf:params:jmap:mail";

export class JmapClient {
  constructor(csrfToken) {
    this.csrfToken = csrfToken;
    this.session = null;
    this.accountId = null;
  }

  async connect() {
    const response = await fetch("/.well-known/jmap", { credentials: "same-origin" });
    if (response.status === 401) throw new JmapError("signedOut");
    if (!response.ok) throw new JmapError("session", `HTTP ${response.status}`);
    this.session = await response.json();
    // Mail's own entry once the server advertises it; until then the user's own (core) account.
    this.accountId = this.session.primaryAccounts[MAIL] ?? this.session.primaryAccounts[CORE] ?? null;
    return this.session;
  }

  // One request of several method calls; the responses by call id. A method error raises.
  async request(calls, using = [CORE, MAIL]) {
    const response = await fetch(this.session.apiUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": this.csrfToken },
      body: JSON.stringify({ using, methodCalls: calls }),
    });
    if (response.status === 401) throw new JmapError("signedOut");
    if (!response.ok) {
      let problem = {};
      try {
        problem = await response.json();
      } catch {
        // not a problem document: the status says enough
      }
      throw new JmapError(problem.type ?? `HTTP ${response.status}`, problem.detail);
    }
    const answer = await response.json();
    const byId = new Map();
    for (const [name, args, id] of answer.methodResponses) {
      if (name === "error") throw new JmapError(args.type, args.description);
      if (!byId.has(id)) byId.set(id, args); // a /copy's implicit /set comes second under the same id
    }
    return byId;
  }

  async call(name, args) {
    const responses = await this.request([[name, { accountId: this.accountId, ...args }, "0"]]);
    return responses.get("0");
  }
}
