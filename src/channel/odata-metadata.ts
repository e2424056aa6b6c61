import { type Attribute, ENTITY_SETS } from './entity-sets.ts';

/**
 * `$metadata`: the CSDL document OData clients read to learn the entity sets, their keys and their
 * properties. It is derived from the same entity model that validates bodies, so it cannot drift from them.
 * An option set is an `Edm.Int32`, as in Dataverse, annotated with the values it allows and their labels
 * (OData's standard `Validation.AllowedValues`, each value named by `Core.SymbolicName`).
 */

const NAMESPACE = 'Microsoft.Dynamics.CRM';

const EDM_TYPES: Record<Attribute['kind'], string> = {
  text: 'Edm.String',
  boolean: 'Edm.Boolean',
  integer: 'Edm.Int32',
  datetime: 'Edm.DateTimeOffset',
  customData: 'Edm.Untyped',
};

/** The OASIS vocabularies the annotations use. */
const VOCABULARIES = [
  ['Org.OData.Core.V1', 'Core'],
  ['Org.OData.Validation.V1', 'Validation'],
].map(
  ([namespace, alias]) =>
    `<edmx:Reference Uri="https://oasis-tcs.github.io/odata-vocabularies/vocabularies/${namespace}.xml">` +
    `<edmx:Include Namespace="${namespace}" Alias="${alias}"/></edmx:Reference>`,
);

const allowedValues = (attribute: Attribute) =>
  [
    '<Annotation Term="Validation.AllowedValues"><Collection>',
    ...(attribute.options ?? []).map(
      (o) =>
        `<Record><PropertyValue Property="Value" Int="${o.value}"/>` +
        `<Annotation Term="Core.SymbolicName" String="${o.label}"/></Record>`,
    ),
    '</Collection></Annotation>',
  ].join('');

function property(attribute: Attribute, primaryId: string): string {
  const type = attribute.name === primaryId ? 'Edm.Guid' : EDM_TYPES[attribute.kind];
  const facets = [
    attribute.name === primaryId || attribute.required ? ' Nullable="false"' : '',
    type === 'Edm.String' && attribute.maxLength ? ` MaxLength="${attribute.maxLength}"` : '',
  ].join('');
  const open = `<Property Name="${attribute.name}" Type="${type}"${facets}`;
  return attribute.options ? `${open}>${allowedValues(attribute)}</Property>` : `${open}/>`;
}

export const METADATA_XML = [
  '<?xml version="1.0" encoding="utf-8"?>',
  '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
  ...VOCABULARIES,
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
