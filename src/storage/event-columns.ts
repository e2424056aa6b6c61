import type { CanonicalEvent } from '../ingest/canonical-event.ts';
import type { ColumnType } from './storage.ts';

/**
 * The events table, described once for every engine: each canonical field and the column that holds it.
 * customData is the exception: it is stored as two parallel lists (custom_keys, custom_values) so that
 * both DuckDB and ClickHouse 18.16 can hold and filter it without JSON or Map types.
 */
export interface EventColumn {
  column: string;
  field: Exclude<keyof CanonicalEvent, 'customData'>;
  type: ColumnType;
  nullable: boolean;
}

const col = (
  column: string,
  field: EventColumn['field'],
  type: ColumnType,
  nullable = true,
): EventColumn => ({ column, field, type, nullable });

export const EVENT_COLUMNS: readonly EventColumn[] = [
  col('id', 'id', 'text', false),
  col('org', 'org', 'text', false),
  col('category', 'category', 'text', false),
  col('event_type', 'eventType', 'text', false),
  col('event_value', 'eventValue', 'text'),
  col('event_time', 'eventTime', 'timestamp'),
  col('sent_time', 'sentTime', 'timestamp'),
  col('received_time', 'receivedTime', 'timestamp', false),
  col('derived_time', 'derivedTime', 'timestamp', false),
  col('language', 'language', 'text'),
  col('username', 'username', 'text'),
  col('user_display_name', 'userDisplayName', 'text'),
  col('anonymous', 'anonymous', 'boolean', false),
  col('client_id', 'clientId', 'text', false),
  col('visitor_id', 'visitorId', 'text', false),
  col('visit_id', 'visitId', 'text', false),
  col('origin_context', 'originContext', 'text'),
  col('origin_level1', 'originLevel1', 'text'),
  col('origin_level2', 'originLevel2', 'text'),
  col('origin_level3', 'originLevel3', 'text'),
  col('outcome', 'outcome', 'integer'),
  col('split_test_run_name', 'splitTestRunName', 'text'),
  col('split_test_run_version', 'splitTestRunVersion', 'text'),
  col('tracking_id', 'trackingId', 'text'),
  col('last_search_query_uid', 'lastSearchQueryUid', 'text'),
  col('user_agent', 'userAgent', 'text'),
  col('correlation_id', 'correlationId', 'text'),
  col('credential_id', 'credentialId', 'text', false),
];

export const CUSTOM_KEYS_COLUMN = 'custom_keys';
export const CUSTOM_VALUES_COLUMN = 'custom_values';
