import type { Principal } from '../common/principal.js';
import type { Reason } from './waiver-decision.engine.js';
import type { Policy, PolicyVersion, WaiverDecision } from './waivers.service.js';

export function versionJson(version: PolicyVersion) {
  return {
    version: version.version,
    deposit: { amountMinor: version.depositMinor.toString(), currency: version.currency },
    tiers: version.tiers.map((tier) => ({ minScore: tier.minScore, waivePercent: tier.waivePercent })),
    scoreUnavailableWaivePercent: version.scoreUnavailableWaivePercent,
    conditions: {
      requireVerifiedIdentity: version.requireVerifiedIdentity,
      minimumAge: version.minimumAge,
      maxActiveAgreements: version.maxActiveAgreements,
      allowOutstandingDebt: version.allowOutstandingDebt,
      maxWaivedExposureMinor: version.maxWaivedExposureMinor?.toString() ?? null,
    },
    agreementLifetimeSeconds: version.agreementLifetimeSeconds,
    maxFinalChargeMinor: version.maxFinalChargeMinor.toString(),
    decisionTtlSeconds: version.decisionTtlSeconds,
    createdAt: version.createdAt.toISOString(),
  };
}

export function policyJson(policy: Policy, versions: readonly PolicyVersion[] = []) {
  return {
    id: policy.id,
    merchantId: policy.merchantId,
    name: policy.name,
    activeVersion: policy.activeVersion,
    createdAt: policy.createdAt.toISOString(),
    updatedAt: policy.updatedAt.toISOString(),
    ...(versions.length > 0 ? { versions: versions.map(versionJson) } : {}),
  };
}

/**
 * A reason as the caller may see it: the credit score itself only with `credit:score` (or for the
 * merchant's own records, never: a merchant sees the band); otherwise its band.
 */
function reasonJson(reason: Reason, decision: WaiverDecision, showScore: boolean) {
  if (reason.code !== 'CREDIT_SCORE' || showScore || decision.facts.score === null) return { ...reason };
  return { ...reason, observed: decision.facts.band };
}

export function decisionJson(decision: WaiverDecision, principal: Principal) {
  const showScore = principal.userId !== null && principal.scopes.includes('credit:score');
  return {
    id: decision.id,
    policyId: decision.policyId,
    policyVersion: decision.policyVersion,
    outcome: decision.outcome,
    depositAmount: decision.depositMinor.toString(),
    waivedAmount: decision.waivedMinor.toString(),
    depositDue: decision.depositDueMinor.toString(),
    currency: decision.currency,
    reasons: decision.reasons.map((reason) => reasonJson(reason, decision, showScore)),
    createdAt: decision.createdAt.toISOString(),
    expiresAt: decision.expiresAt.toISOString(),
  };
}
