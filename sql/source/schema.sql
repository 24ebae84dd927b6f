-- The on-premise `retail` schema of spec section 1, as `dfstore source init`
-- creates it in the demo database. Primary keys, no foreign keys, exactly as
-- the legacy system declares them. Run by hand: psql -f sql/source/schema.sql
DROP SCHEMA IF EXISTS retail CASCADE;
CREATE SCHEMA IF NOT EXISTS retail;

CREATE TABLE retail.tiendas (            -- stores
  id_tienda       integer PRIMARY KEY,
  codigo          text NOT NULL,         -- e.g. 'LIM-001'
  nombre          text NOT NULL,
  ciudad          text NOT NULL,
  region          text NOT NULL,         -- e.g. 'LIMA', 'NORTE', 'SUR', 'CENTRO', 'ORIENTE'
  formato         text NOT NULL,         -- 'HIPER' | 'SUPER' | 'EXPRESS'
  fecha_apertura  date NOT NULL,
  activa          boolean NOT NULL DEFAULT true,
  actualizado_en  timestamptz NOT NULL   -- last change; the incremental watermark
);

CREATE TABLE retail.productos (          -- products
  id_producto     integer PRIMARY KEY,
  sku             text NOT NULL,
  nombre          text NOT NULL,
  categoria       text NOT NULL,
  subcategoria    text,
  marca           text,
  precio_lista    numeric(12,2) NOT NULL,
  costo_unitario  numeric(12,4) NOT NULL,   -- unit cost
  activo          boolean NOT NULL DEFAULT true,
  actualizado_en  timestamptz NOT NULL
);

CREATE TABLE retail.clientes (           -- customers (personal data)
  id_cliente      bigint PRIMARY KEY,
  documento       text,                  -- national id number: personal data
  nombre          text,                  -- personal data
  email           text,                  -- personal data
  segmento        text,                  -- 'REGULAR' | 'FRECUENTE' | 'VIP'
  ciudad          text,
  fecha_registro  date,
  actualizado_en  timestamptz NOT NULL
);

CREATE TABLE retail.ventas (             -- sales tickets (headers)
  id_venta        bigint PRIMARY KEY,
  id_tienda       integer NOT NULL,
  id_cliente      bigint,                -- NULL: anonymous customer
  fecha_venta     timestamptz NOT NULL,  -- instant of the sale
  canal           text NOT NULL,         -- 'TIENDA' | 'WEB' | 'APP'
  medio_pago      text NOT NULL,         -- 'EFECTIVO' | 'TARJETA' | 'BILLETERA'
  estado          text NOT NULL,         -- 'COMPLETADA' | 'ANULADA' (voided)
  actualizado_en  timestamptz NOT NULL
);

CREATE TABLE retail.detalle_ventas (     -- sales lines
  id_venta        bigint NOT NULL,
  linea           integer NOT NULL,
  id_producto     integer NOT NULL,
  cantidad        integer NOT NULL,      -- units
  precio_unitario numeric(12,2) NOT NULL,
  descuento       numeric(12,2) NOT NULL DEFAULT 0,  -- money off the whole line
  actualizado_en  timestamptz NOT NULL,
  PRIMARY KEY (id_venta, linea)
);
