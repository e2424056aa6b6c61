import { type Attribute, ENTITY_SETS } from './entity-sets.ts';

/**
 * `$metadata`: the CSDL document OData clients read to learn the entity sets, their keys and their
 * properties. It is derived from the same entity model that validates bodies, so it cannot drift from them.
 */

const NAMESPACE = 'Microsoft.Dynamics.CRM';

const EDM_TYPES: Record<Attribute['kind'], string> = {
  text: 'Edm.String',
  boolean: 'Edm.Boolean',
  integer: 'Edm.Int32',
  datetime: 'Edm.DateTimeOffset',
  customData: 'Edm.Untyped',
};

function property(attribute: Attribute, primaryId: string): string {
  const type = attribute.name === primaryId ? 'Edm.Guid' : EDM_TYPES[attribute.kind];
  const facets = [
    attribute.name === primaryId || attribute.required ? ' Nullable="false"' : '',
    type === 'Edm.String' && attribute.maxLength ? ` MaxLength="${attribute.maxLength}"` : '',
  ].join('');
  return `<Property Name="${attribute.name}" Type="${type}"${facets}/>`;
}

export const METADATA_XML = [
  '<?xml version="1.0" encoding="utf-8"?>',
  '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
  '<edmx:DataServices>',
  `<Schema Namespace="${NAMESPACE}" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">`,
  ...ENTITY_SETS.map((set) =>
    [
      `<EntityType Name="${set.entity}">`,
      `<Key><PropertyRef Name="${set.primaryId}"/></Key>`,
      ...set.attributes.map((a) => property(a, set.primaryId)),
      '</EntityType>',
    ].join(''),
  ),
  '<EntityContainer Name="System">',
  ...ENTITY_SETS.map((set) => `<EntitySet Name="${set.set}" EntityType="${NAMESPACE}.${set.entity}"/>`),
  '</EntityContainer>',
  '</Schema>',
  '</edmx:DataServices>',
  '</edmx:Edmx>',
].join('\n');
