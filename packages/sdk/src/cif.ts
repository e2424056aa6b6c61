import { type ChannelClient, type ChannelOptions, createChannelClient } from './channel.ts';

/** The two analytics calls of `Microsoft.CIFramework`, with the framework's own signatures. */
export interface CIFrameworkAnalytics {
  initLogAnalytics(data: string, correlationId?: string): Promise<string>;
  logAnalyticsEvent(data: string, eventName: string, correlationId?: string): Promise<string>;
}

/**
 * The drop-in: defines `Microsoft.CIFramework.initLogAnalytics` and `.logAnalyticsEvent` on the page
 * (`globalThis`), sending to OpenUA, so a provider's code written for the framework runs unchanged. An
 * initLogAnalytics payload whose conversation names no provider is given `providerId` (over HTTP the
 * provider cannot be inferred as the desktop does). The framework's other members, if the page has them,
 * are kept. Answers the channel client the calls go through (to flush or close it).
 */
export function installCIFramework(options: ChannelOptions & { providerId: string }): ChannelClient {
  const channel = createChannelClient(options);
  const page = globalThis as { Microsoft?: { CIFramework?: object } };
  page.Microsoft ??= {};
  const analytics: CIFrameworkAnalytics = {
    initLogAnalytics: (data, correlationId) => channel.initLogAnalytics(data, correlationId),
    logAnalyticsEvent: (data, eventName, correlationId) =>
      channel.logAnalyticsEvent(data, eventName, correlationId),
  };
  page.Microsoft.CIFramework = Object.assign(page.Microsoft.CIFramework ?? {}, analytics);
  return channel;
}
