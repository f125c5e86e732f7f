// What both pages do with the API token: keep it for the tab (sessionStorage:
// gone when the tab closes, shared by the pages only within one tab), send
// it with every REST request, and run the form that takes it.

export const TOKEN_KEY = "callkernel.token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

// A REST request with the token: the JSON body, or an Error whose message is
// the problem's detail and whose `problem` is the whole problem document.
export async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${token()}`, Accept: "application/json", ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  const body = response.status === 204 ? {} : await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(body.detail || `${response.status} ${response.statusText}`), { problem: body });
  return body;
}

// Wire the page's token form (#token-form with #token; #token-saved with
// #token-forget): `changed(saved)` runs whenever the token comes or goes.
// Returns the function that shows the form's state and calls `changed`.
export function tokenForm($, changed) {
  const show = () => {
    const saved = Boolean(token());
    $("token-form").hidden = saved;
    $("token-saved").hidden = !saved;
    changed(saved);
  };
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    show();
  });
  $("token-forget").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); show(); });
  return show;
}
