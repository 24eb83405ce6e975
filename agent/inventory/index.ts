// The agent's hardware inventory: collector (I/O edge), pure parsers, and the summary the CLI shows.
export { collectInventory, type CollectOptions } from './collect.ts';
export { assembleInventory, type InventoryParts } from './assemble.ts';
export { summarizeInventory, formatBytes, inventorySchema, type Inventory, type InventorySummary } from '../../core/model/inventory.ts';
