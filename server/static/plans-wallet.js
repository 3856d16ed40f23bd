// /plans-wallet?workspaceId=: a workspace's wallet and ledger, a top-up (to Stripe Checkout's
// checkoutUrl when the server has Stripe, credited at once otherwise) and, on the way back from
// Checkout (?checkout=success&workspaceId=&session_id=), the confirmation that credits the wallet.
"use strict";

(() => {
  const {api, el, say, showError, clearError, time, credits} = Operator;
  const DEFAULT_WORKSPACE = "workspace_default";
  const LEDGER_ROWS = 20;

  function workspace() {
    return Operator.params().get("workspaceId") || DEFAULT_WORKSPACE;
  }

  function showWallet(wallet) {
    const set = (id, text) => { document.getElementById(id).textContent = text; };
    set("wallet-workspace", wallet.workspaceId);
    set("wallet-available", credits(wallet.availableCredits));
    set("wallet-owed", credits(wallet.owedCredits));
    set("wallet-consumed", credits(wallet.consumedCredits));
    set("wallet-updated", time(wallet.updatedAt));
  }

  function ledgerRow(entry) {
    const amount = entry.amount > 0 ? `+${credits(entry.amount)}` : credits(entry.amount);
    return el("tr", {"data-entry-id": entry.entryId},
      el("td", {class: "time"}, time(entry.occurredAt)),
      el("td", {}, entry.entryType),
      el("td", {class: "number"}, amount),
      el("td", {class: "number"}, credits(entry.balanceAfter)),
      el("td", {}, el("code", {}, entry.source)),
    );
  }

  function limit(value) {
    return value === null ? "no limit" : value.toLocaleString("en-US");
  }

  function planRow(plan) {
    const price = plan.monthlyPriceCents === null ? "by contract" : (plan.monthlyPriceCents / 100).toFixed(2);
    const l = plan.limits;
    return el("tr", {"data-plan-id": plan.planId},
      el("th", {scope: "row"}, plan.name),
      el("td", {class: "number"}, price),
      el("td", {class: "number"}, limit(l.activeCampaigns)),
      el("td", {class: "number"}, limit(l.targetedPartnersPerCampaign)),
      el("td", {class: "number"}, limit(l.evaluationsPerMinute)),
      el("td", {class: "number"}, limit(l.includedCreditsPerMonth)),
      el("td", {}, plan.description),
    );
  }

  async function loadWallet() {
    const workspaceId = workspace();
    const [wallet, ledger] = await Promise.all([
      api("GET", "/wallet", {query: {workspaceId}}),
      api("GET", "/wallet/ledger", {query: {workspaceId, limit: LEDGER_ROWS}}),
    ]);
    showWallet(wallet);
    const rows = document.getElementById("ledger-rows");
    if (ledger.length) {
      rows.replaceChildren(...ledger.map(ledgerRow));
    } else {
      rows.replaceChildren(el("tr", {}, el("td", {colspan: "5", class: "empty"}, "No ledger entries yet.")));
    }
    document.getElementById("ledger-caption").textContent =
      `The ${LEDGER_ROWS} newest entries of ${workspaceId}, newest first.`;
    return wallet;
  }

  async function loadPlans() {
    const plans = await api("GET", "/plans");
    document.getElementById("plan-rows").replaceChildren(...plans.map(planRow));
  }

  // Back from Stripe Checkout: confirm the session (it credits the wallet once, however often it is
  // called), then show the address without the session so that a reload does not confirm again.
  async function confirmReturn(query) {
    const workspaceId = workspace();
    if (query.get("checkout") === "cancelled") {
      say("The checkout was cancelled: nothing was charged or credited.");
    } else if (query.get("checkout") === "success" && query.get("session_id")) {
      const answer = await api("GET", "/wallet/top-ups/confirm", {query: {sessionId: query.get("session_id"), workspaceId}});
      const balance = credits(answer.wallet.availableCredits);
      say(answer.credited
        ? `Payment confirmed: ${credits(answer.credits)} credits added to ${workspaceId}. The balance is now ${balance} credits.`
        : `This payment was credited already (${credits(answer.credits)} credits). The balance is ${balance} credits.`);
    } else {
      return;
    }
    window.history.replaceState(null, "", Operator.link("/plans-wallet", {workspaceId}));
  }

  async function topUp(event) {
    event.preventDefault();
    clearError();
    const workspaceId = workspace();
    const wanted = Number(document.getElementById("top-up-credits").value);
    try {
      const answer = await api("POST", "/wallet/top-ups/checkout", {body: {workspaceId, credits: wanted}});
      if (answer.checkoutUrl) {
        say("Opening Stripe Checkout…");
        window.location.assign(answer.checkoutUrl);
        return;
      }
      await loadWallet();
      say(`Credited ${credits(wanted)} credits to ${workspaceId}. The balance is now ${credits(answer.availableCredits)} credits.`);
    } catch (error) {
      showError(error);
    }
  }

  async function start() {
    const query = Operator.params();
    document.getElementById("workspace-id").value = workspace();
    document.getElementById("top-up").addEventListener("submit", topUp);
    try {
      await confirmReturn(query);
    } catch (error) {
      showError(error);
    }
    try {
      await Promise.all([loadWallet(), loadPlans()]);
    } catch (error) {
      showError(error);
    }
  }

  document.addEventListener("DOMContentLoaded", start);
})();
