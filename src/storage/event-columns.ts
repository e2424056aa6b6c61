import type { CanonicalEvent } from '../model/canonical-event.ts';
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

/**
 * Columns are listed in the order they were added: an older store gains the newer ones at its end
 * (migrate adds what is missing), and a store's own column order decides how rows are appended.
 */
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
  col('client_id', 'clientId', 'text'),
  col('visitor_id', 'visitorId', 'text'),
  col('visit_id', 'visitId', 'text'),
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
  col('name', 'name', 'text'),
  col('conversation_id', 'conversationId', 'text'),
  col('provider_session_id', 'providerSessionId', 'text'),
  col('client_session_id', 'clientSessionId', 'text'),
  col('participant_id', 'participantId', 'text'),
  col('provider_id', 'providerId', 'text'),
  col('session_data_id', 'sessionDataId', 'text'),
  col('cif_session_id', 'cifSessionId', 'text'),
  col('kpi_event_definition_id', 'kpiEventDefinitionId', 'text'),
  col('entity_name', 'entityName', 'text'),
  col('entity_record_id', 'entityRecordId', 'text'),
  col('knowledge_article_id', 'knowledgeArticleId', 'text'),
  col('knowledge_article_name', 'knowledgeArticleName', 'text'),
  col('old_presence', 'oldPresence', 'text'),
  col('new_presence', 'newPresence', 'text'),
  col('tab_id', 'tabId', 'text'),
  col('tab_name', 'tabName', 'text'),
  col('notification_response_action', 'notificationResponseAction', 'text'),
  col('external_correlation_id', 'externalCorrelationId', 'text'),
  col('additional_data', 'additionalData', 'text'),
  col('flag', 'flag', 'text'),
  col('search_query_uid', 'searchQueryUid', 'text'),
  col('action_cause', 'actionCause', 'text'),
  col('query_text', 'queryText', 'text'),
  col('advanced_query', 'advancedQuery', 'text'),
  col('number_of_results', 'numberOfResults', 'integer'),
  col('response_time', 'responseTime', 'integer'),
  col('contextual', 'contextual', 'boolean'),
  col('query_pipeline', 'queryPipeline', 'text'),
  col('index_id', 'indexId', 'text'),
  col('user_groups', 'userGroups', 'text[]'),
  col('facet_state', 'facetState', 'json'),
  col('results', 'results', 'json'),
  col('document_position', 'documentPosition', 'integer'),
  col('source_name', 'sourceName', 'text'),
  col('document_uri', 'documentUri', 'text'),
  col('document_uri_hash', 'documentUriHash', 'text'),
  col('collection_name', 'collectionName', 'text'),
  col('document_title', 'documentTitle', 'text'),
  col('document_url', 'documentUrl', 'text'),
  col('document_author', 'documentAuthor', 'text'),
  col('ranking_modifier', 'rankingModifier', 'text'),
  col('document_category', 'documentCategory', 'text'),
  col('location', 'location', 'text'),
  col('referrer', 'referrer', 'text'),
  col('title', 'title', 'text'),
  col('content_id_key', 'contentIdKey', 'text'),
  col('content_id_value', 'contentIdValue', 'text'),
  col('content_type', 'contentType', 'text'),
  col('idempotency_key', 'idempotencyKey', 'text'),
  col('channel', 'channel', 'text'),
  col('queue_id', 'queueId', 'text'),
  col('queue_name', 'queueName', 'text'),
  col('language_tag', 'languageTag', 'text'),
];

/** The column that holds a field, for filters and ordering over events. */
export const EVENT_COLUMN_OF: ReadonlyMap<string, EventColumn> = new Map(
  EVENT_COLUMNS.map((c) => [c.field, c]),
);

export const CUSTOM_KEYS_COLUMN = 'custom_keys';
export const CUSTOM_VALUES_COLUMN = 'custom_values';
